/* The exit handler: logs out every slot this process is still logged in
 * to, then closes the sessions it left open there.
 *
 * It is registered with atexit() at the first recorded login.  Exit
 * handlers run last-registered-first, and OpenSSL's cleanup and libp11's
 * g_shutdown_mode handler were registered when they were initialised,
 * before any login, so this one runs before both, while the module can
 * still use libcrypto.  An ELF destructor would run after them. */
#include "config.h"

#include <stdlib.h>

#include "p11logout.h"

static int armed;

static void log_call(struct p11l_module *m, CK_SLOT_ID slot, const char *what,
		     CK_SESSION_HANDLE h, CK_RV rv)
{
	char b[32];

	p11l_log("exit: %s: slot %lu: %s(session %lu) -> %s", m->path, slot,
		 what, h, p11l_ckr_name(rv, b));
}

/* Calls go through our own wrapped entries, so the record follows them;
 * for the outer module of a proxy chain the module forwards to the inner
 * module's wrapped entries, which clears the inner record too and keeps a
 * second logout from reaching the real module. */
static void release_slot(struct p11l_module *m, CK_SLOT_ID slot)
{
	const struct p11l_entries *e = &p11l_entry_table[m->index];
	CK_SESSION_HANDLE h;
	CK_RV rv;
	int have;

	p11l_lock();
	have = p11l_record_session_on_slot(m, slot, &h);
	p11l_unlock();

	if (!have) {
		rv = e->open_session(slot, CKF_SERIAL_SESSION, NULL, NULL, &h);
		log_call(m, slot, "C_OpenSession", rv == CKR_OK ? h : 0, rv);
		if (rv != CKR_OK) {
			p11l_lock();
			p11l_record_login_remove(m, slot);
			p11l_unlock();
			return;
		}
	}

	rv = e->logout(h);
	log_call(m, slot, "C_Logout", h, rv);
	p11l_lock();
	p11l_record_login_remove(m, slot);
	p11l_unlock();

	for (;;) {
		p11l_lock();
		have = p11l_record_session_on_slot(m, slot, &h);
		p11l_unlock();
		if (!have)
			break;
		rv = e->close_session(h);
		log_call(m, slot, "C_CloseSession", h, rv);
		p11l_lock();
		p11l_record_session_remove(m, h);
		p11l_unlock();
	}
}

static void exit_handler(void)
{
	struct p11l_module *m;
	CK_SLOT_ID slot;

	for (;;) {
		p11l_lock();
		int found = p11l_record_first_login(&m, &slot);
		p11l_unlock();
		if (!found)
			break;
		release_slot(m, slot);
	}
}

void p11l_exit_handler_arm(void)
{
	int expected = 0;

	if (!__atomic_compare_exchange_n(&armed, &expected, 1, 0,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return;
	if (atexit(exit_handler) != 0) {
		p11l_warn("cannot register the exit handler; logins will not be released at exit");
		__atomic_store_n(&armed, 0, __ATOMIC_RELEASE);
		return;
	}
	p11l_log("exit handler registered");
}
