/* The program's own C_Finalize while it is still logged in.  A module may
 * end nothing on C_Finalize: yubihsm_pkcs11 only frees its memory, and the
 * device keeps the authenticated session (one of its 16) until an
 * authenticated CLOSE SESSION, which only C_Logout and the closing of the
 * last session send.  After C_Finalize the record is cleared and the exit
 * handler has nothing left to release, so the logout has to happen here,
 * just before the module is finalized. */
#include "config.h"


#include "p11logout.h"
#include "release.h"

/* Only the process that initialised the module and logged in logs out: a
 * forked child never ends its parent's login.  A slot without an open
 * session is left alone: by the standard the login ended with the last
 * session, and the module (yubihsm_pkcs11 too) sent its close then. */
void p11l_finalize_logout(unsigned set)
{
	struct p11l_module *m = p11l_set_module(set);
	CK_C_Logout f = (CK_C_Logout)p11l_real(set, P11L_CALL_C_Logout);
	pid_t pid = p11l_self();
	unsigned long stamp = p11l_stamp();
	CK_SESSION_HANDLE h;
	CK_SLOT_ID slot;
	char b[32];

	if (!f || __atomic_load_n(&m->init_pid, __ATOMIC_ACQUIRE) != pid ||
	    __atomic_load_n(&m->login_pid, __ATOMIC_ACQUIRE) != pid)
		return;
	for (;;) {
		p11l_lock();
		int have = p11l_record_login_with_session(m, stamp, &slot, &h);
		p11l_unlock();
		if (!have || p11l_release_given_up())
			break;
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
