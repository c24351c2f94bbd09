/* The program's own C_Finalize while it is still logged in.  A module may
 * end nothing on C_Finalize: yubihsm_pkcs11 only frees its memory, and the
 * device keeps the authenticated session (one of its 16) until an
 * authenticated CLOSE SESSION, which only C_Logout and the closing of the
 * last session send.  After C_Finalize the record is cleared and the exit
 * handler has nothing left to release, so the logout has to happen here,
 * just before the module is finalized. */
#include "config.h"

#include <unistd.h>

#include "p11logout.h"

/* A login of this process on M, made before STAMP, on a slot where this
 * process still has a session open: that session goes to *H. */
static int next_login(struct p11l_module *m, unsigned long stamp,
		      CK_SLOT_ID *slot, CK_SESSION_HANDLE *h)
{
	pid_t pid = getpid();
	int found = 0;

	p11l_lock();
	for (size_t i = 0; i < m->nlogins && !found; i++) {
		struct p11l_login *l = &m->logins[i];

		if (l->pid != pid || l->stamp >= stamp)
			continue;
		*slot = l->slot;
		found = p11l_record_find_session(m, slot, h, NULL);
	}
	p11l_unlock();
	return found;
}

/* Only the process that initialised the module and logged in logs out: a
 * forked child never ends its parent's login.  A slot without an open
 * session is left alone: by the standard the login ended with the last
 * session, and the module (yubihsm_pkcs11 too) sent its close then. */
void p11l_finalize_logout(unsigned set)
{
	struct p11l_module *m = p11l_set_module(set);
	CK_C_Logout f = (CK_C_Logout)p11l_real(set, P11L_CALL_C_Logout);
	pid_t pid = getpid();
	unsigned long stamp = p11l_stamp();
	CK_SESSION_HANDLE h;
	CK_SLOT_ID slot;
	char b[32];

	if (!f || __atomic_load_n(&m->init_pid, __ATOMIC_ACQUIRE) != pid ||
	    __atomic_load_n(&m->login_pid, __ATOMIC_ACQUIRE) != pid)
		return;
	while (!p11l_release_given_up() && next_login(m, stamp, &slot, &h)) {
		/* The module's own C_Logout, not our wrapped one: the program
		 * asked for none, and the finalize clears the record anyway.
		 * An outer module of a proxy chain forwards it to the inner
		 * module's wrapped entry, which then has nothing left to do. */
		CK_RV rv = f(h);
		p11l_log("C_Finalize: %s: slot %lu: C_Logout(session %lu) -> %s",
			 m->path, slot, h, p11l_ckr_name(rv, b));
		/* Once per slot, whatever the answer: a logout that failed now
		 * would fail again. */
		p11l_lock();
		p11l_record_login_remove(m, slot, stamp);
		p11l_unlock();
	}
}
