/* The record's stamp rule (HACKING.md, invariant 7), under the
 * interleavings the wrapped calls can meet: a call that removes records
 * takes its stamp before it calls the module, and a record added by a
 * racing call after that stamp survives the removal.  Also: a reused
 * handle replaces its record, and a forked child forgets its parent's. */
#include "config.h"

#include <sys/wait.h>
#include <unistd.h>

#include "p11logout.h"
#include "unit-test.h"

static void getter_here(void) {}

static size_t sessions_on(struct p11l_module *m, CK_SLOT_ID slot)
{
	CK_SESSION_HANDLE h;
	CK_SLOT_ID found;
	size_t n = 0;

	/* Counted by finding and taking out, then put back. */
	CK_SESSION_HANDLE seen[64];
	while (n < 64 && p11l_record_find_session(m, &slot, &h, &found)) {
		seen[n++] = h;
		p11l_record_session_remove(m, h);
	}
	for (size_t i = 0; i < n; i++)
		p11l_record_session_add(m, seen[i], slot);
	return n;
}

static int logged_in(struct p11l_module *m, CK_SLOT_ID slot)
{
	struct p11l_module *mm;
	CK_SLOT_ID s;

	/* The first login found; the tests keep one slot logged in at most. */
	return p11l_record_first_login(&mm, &s) && mm == m && s == slot;
}

int main(void)
{
	struct p11l_module *m;
	unsigned long before;

	unit_hermetic("unit-record.conf");
	p11l_entry_points_init();
	m = p11l_module_for_getter((void *)(p11l_fn)getter_here);
	if (!unit_check(m != NULL, "a module record for this program"))
		return unit_done();

	p11l_lock();
	/* C_Logout (stamp taken) racing with C_Login (added after it). */
	p11l_record_login_add(m, 1, CKU_USER, p11l_stamp());
	before = p11l_stamp();
	p11l_record_login_remove(m, 1, before);
	unit_check(!logged_in(m, 1), "a login older than the remover's stamp is removed");
	before = p11l_stamp();
	p11l_record_login_add(m, 1, CKU_USER, p11l_stamp());
	p11l_record_login_remove(m, 1, before);
	unit_check(logged_in(m, 1), "a login added after the remover's stamp survives it");
	p11l_record_login_remove(m, 1, P11L_ALL_RECORDS);
	unit_check(!logged_in(m, 1), "P11L_ALL_RECORDS removes it");

	/* C_CloseAllSessions (stamp taken) racing with C_OpenSession. */
	p11l_record_session_add(m, 10, 2);
	p11l_record_session_add(m, 11, 2);
	before = p11l_stamp();
	p11l_record_session_add(m, 12, 2);
	p11l_record_sessions_remove_slot(m, 2, before);
	unit_check(sessions_on(m, 2) == 1, "closing a slot's sessions keeps the one opened after its stamp (%zu left)",
		   sessions_on(m, 2));
	/* Handle 12 was re-added by sessions_on: a new stamp. */
	p11l_record_sessions_remove_slot(m, 2, P11L_ALL_RECORDS);
	unit_check(sessions_on(m, 2) == 0, "and all of them with P11L_ALL_RECORDS");

	/* A handle the module hands out again replaces its record. */
	p11l_record_session_add(m, 20, 3);
	p11l_record_session_add(m, 20, 4);
	CK_SLOT_ID slot = 0;
	unit_check(p11l_record_session_slot(m, 20, &slot) && slot == 4,
		   "a reused handle is recorded once, with its new slot (%lu)", slot);
	unit_check(sessions_on(m, 3) == 0, "and not on its old slot");

	/* C_Finalize (clear) racing with C_Login. */
	p11l_record_login_add(m, 5, CKU_USER, p11l_stamp());
	before = p11l_stamp();
	p11l_record_login_add(m, 6, CKU_SO, p11l_stamp());
	p11l_record_clear(m, before);
	struct p11l_module *mm;
	CK_SLOT_ID s;
	unit_check(p11l_record_first_login(&mm, &s) && s == 6,
		   "a clear keeps the login added after its stamp (slot %lu)", s);
	unit_check(sessions_on(m, 4) == 0, "and drops the older sessions");
	p11l_record_clear(m, P11L_ALL_RECORDS);
	unit_check(!p11l_record_first_login(&mm, &s), "a clear of all records leaves no login");

	/* A forked child forgets what its parent recorded. */
	p11l_record_login_add(m, 7, CKU_USER, p11l_stamp());
	p11l_record_session_add(m, 30, 7);
	p11l_unlock();
	pid_t child = fork();
	if (child == 0) {
		p11l_lock();
		p11l_record_forget_other_processes(m);
		int clean = !p11l_record_first_login(&mm, &s) && sessions_on(m, 7) == 0;
		p11l_unlock();
		_exit(clean ? 0 : 1);
	}
	int status = -1;
	waitpid(child, &status, 0);
	unit_check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		   "a forked child forgets its parent's login and session");
	p11l_lock();
	p11l_record_forget_other_processes(m);
	unit_check(logged_in(m, 7) && sessions_on(m, 7) == 1,
		   "the parent keeps its own");
	p11l_unlock();
	return unit_done();
}
