/* The session-lifecycle calls of a wrapped module.  Each forwards to the
 * module first, without holding our lock, and then brings the record in
 * line with what the module answered. */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include "p11logout.h"
#include "release.h"

static void log_waited(struct p11l_module *m, const char *what,
		       const struct p11l_wait *w, CK_RV rv)
{
	char b[32];

	p11l_log("%s: %s: no session free; tried again %u times -> %s", m->path,
		 what, w->tries, p11l_ckr_name(rv, b));
}

/* The release's calls enter the wrapped entries of the outermost module,
 * and a proxy (pkcs11-spy, p11-kit-proxy) forwards them, on the same
 * thread, to the inner module's wrapped entries.  Only the outermost keeps
 * what the release ended: it answers the program's clean-up, and an inner
 * one that kept it too would answer a second close, logout or finalize as
 * well.  Only the releasing thread touches the depth: no lock. */
static unsigned release_depth;

/* 0 outside a release, 1 for a call of the release itself, 2 for one a
 * proxy forwarded from it; release_leave after the module's answer. */
static int release_enter(void)
{
	if (!p11l_in_release())
		return 0;
	return ++release_depth == 1 ? 1 : 2;
}

static void release_leave(int r)
{
	if (r)
		release_depth--;
}

CK_RV p11l_C_Initialize(unsigned set, CK_VOID_PTR args)
{
	struct p11l_module *m = p11l_set_module(set);
	CK_C_Initialize f = (CK_C_Initialize)p11l_real(set, P11L_CALL_C_Initialize);
	CK_RV rv;

	if (!f)
		return CKR_FUNCTION_NOT_SUPPORTED;
	rv = f(args);
	/* A forked child that initialises the module starts afresh: what it
	 * inherited belongs to its parent, and must never be logged out here. */
	if (rv == CKR_OK) {
		pid_t login = __atomic_load_n(&m->login_pid, __ATOMIC_ACQUIRE);

		p11l_lock();
		m->parent_logged_in = login != 0 && login != p11l_self();
		p11l_record_forget_other_processes(m);
		/* A fresh start: nothing of ours is left to answer for. */
		p11l_released_forget(m, NULL, 1);
		__atomic_store_n(&m->finalized_by_release, 0, __ATOMIC_RELAXED);
		p11l_unlock();
	}
	if (rv == CKR_OK || rv == CKR_CRYPTOKI_ALREADY_INITIALIZED)
		__atomic_store_n(&m->init_pid, p11l_self(), __ATOMIC_RELEASE);
	return rv;
}

CK_RV p11l_C_Finalize(unsigned set, CK_VOID_PTR reserved)
{
	struct p11l_module *m = p11l_set_module(set);
	CK_C_Finalize f = (CK_C_Finalize)p11l_real(set, P11L_CALL_C_Finalize);
	CK_RV rv;

	unsigned long stamp = p11l_stamp();
	int in_release = p11l_in_release(), ours;

	if (!f)
		return CKR_FUNCTION_NOT_SUPPORTED;
	/* The program's own C_Finalize after ours: the one it would have
	 * made, answered without calling the module a second time. */
	p11l_lock();
	ours = !in_release && m->finalized_by_release;
	if (ours) {
		__atomic_store_n(&m->finalized_by_release, 0, __ATOMIC_RELAXED);
		p11l_released_forget(m, NULL, 1);
	}
	p11l_unlock();
	if (ours)
		return CKR_OK;
	/* The program's own C_Finalize, still logged in: the logout it left
	 * out goes first, or a module that ends nothing on C_Finalize keeps
	 * the login (a YubiHSM its session).  With RESERVED set the module
	 * refuses the call and the program goes on logged in, as without us. */
	if (!in_release && !reserved)
		p11l_finalize_logout(set);
	int r = release_enter();
	rv = f(reserved);
	release_leave(r);
	if (rv == CKR_OK) {
		p11l_lock();
		p11l_record_clear(m, stamp);
		/* After the program's own finalize, what our release ended is
		 * gone for it too: its later calls get the module's
		 * CKR_CRYPTOKI_NOT_INITIALIZED, as without us. */
		if (!in_release)
			p11l_released_forget(m, NULL, 1);
		__atomic_store_n(&m->finalized_by_release, r == 1, __ATOMIC_RELAXED);
		m->parent_logged_in = 0;
		p11l_unlock();
		__atomic_store_n(&m->init_pid, 0, __ATOMIC_RELEASE);
		__atomic_store_n(&m->login_pid, 0, __ATOMIC_RELEASE);
		p11l_place_give(m, NULL);
	}
	return rv;
}

CK_RV p11l_C_OpenSession(unsigned set, CK_SLOT_ID slot, CK_FLAGS flags,
			CK_VOID_PTR app, CK_NOTIFY notify, CK_SESSION_HANDLE *session)
{
	struct p11l_module *m = p11l_set_module(set);
	CK_C_OpenSession f = (CK_C_OpenSession)p11l_real(set, P11L_CALL_C_OpenSession);
	CK_RV rv;

	struct p11l_wait w = { .module = m };

	if (!f)
		return CKR_FUNCTION_NOT_SUPPORTED;
	int r = release_enter();
	do
		rv = f(slot, flags, app, notify, session);
	while (p11l_wait_again(&w, rv));
	release_leave(r);
	if (w.tries)
		log_waited(m, "C_OpenSession", &w, rv);
	if (rv == CKR_OK && session) {
		int added = p11l_record_session_add(m, *session, slot);
		/* A released handle the module hands out again is real again,
		 * except to the release's own session, never the program's. */
		if (r != 1 && p11l_released_any(m)) {
			CK_SLOT_ID was;

			p11l_lock();
			p11l_released_find(m, session, &was, 1);
			p11l_unlock();
		}
		/* In mode close the sessions themselves are what is released. */
		if (p11l_config()->mode >= P11L_MODE_CLOSE)
			p11l_release_handlers_arm();
		if (!added)
			p11l_warn("%s: slot %lu: out of memory; session %lu not recorded and will not be closed at exit",
				  m->path, slot, *session);
	}
	return rv;
}

CK_RV p11l_C_CloseSession(unsigned set, CK_SESSION_HANDLE session)
{
	struct p11l_module *m = p11l_set_module(set);
	CK_C_CloseSession f = (CK_C_CloseSession)p11l_real(set, P11L_CALL_C_CloseSession);
	int in_release = p11l_in_release(), released, finalized;
	CK_SLOT_ID slot;
	CK_RV rv;

	if (!f)
		return CKR_FUNCTION_NOT_SUPPORTED;
	/* A session our release closed: closed now, as the program asks.
	 * The lock only where a release of ours ended something: every
	 * other close pays nothing for it. */
	released = finalized = 0;
	if (!in_release && (p11l_released_any(m) ||
			    __atomic_load_n(&m->finalized_by_release, __ATOMIC_RELAXED))) {
		p11l_lock();
		released = p11l_released_find(m, &session, &slot, 1);
		finalized = m->finalized_by_release;
		p11l_unlock();
	}
	if (released)
		return CKR_OK;
	/* Our release finalized the module and closed every session the
	 * program had: any other handle is one the module, still
	 * initialised without us, would not know. */
	if (finalized)
		return CKR_SESSION_HANDLE_INVALID;
	int r = release_enter();
	rv = f(session);
	release_leave(r);
	if (rv == CKR_OK || rv == CKR_SESSION_HANDLE_INVALID ||
	    rv == CKR_SESSION_CLOSED) {
		if (r == 1) {
			p11l_lock();
			if (p11l_record_session_slot(m, session, &slot))
				released = !p11l_released_add(m, slot, &session);
			p11l_record_session_remove(m, session);
			p11l_unlock();
		} else {
			p11l_record_session_remove(m, session);
		}
		if (released)
			p11l_log("%s: slot %lu: out of memory; the program's own close of session %lu will reach the module",
				 m->path, slot, session);
	}
	return rv;
}

CK_RV p11l_C_CloseAllSessions(unsigned set, CK_SLOT_ID slot)
{
	struct p11l_module *m = p11l_set_module(set);
	CK_C_CloseAllSessions f = (CK_C_CloseAllSessions)p11l_real(set, P11L_CALL_C_CloseAllSessions);
	unsigned long stamp = p11l_stamp();
	int answered = 0;
	CK_SESSION_HANDLE h;
	CK_SLOT_ID was = slot;
	CK_RV rv;

	if (!f)
		return CKR_FUNCTION_NOT_SUPPORTED;
	/* Every session the program had there, our release closed: nothing
	 * is left for the module to do. */
	p11l_lock();
	if (!p11l_in_release() && !p11l_record_find_session(m, &slot, &h, NULL) &&
	    (p11l_released_forget(m, &slot, 0) > 0 ||
	     p11l_released_find(m, NULL, &was, 0) || m->finalized_by_release))
		answered = 1;
	p11l_unlock();
	if (answered)
		return CKR_OK;
	rv = f(slot);
	/* The login stays recorded: a YubiHSM keeps the authenticated session
	 * after every PKCS#11 session is closed. */
	if (rv == CKR_OK) {
		p11l_lock();
		p11l_record_sessions_remove_slot(m, slot, stamp);
		p11l_released_forget(m, &slot, 0);
		p11l_unlock();
	}
	return rv;
}

/* The slot a session belongs to: from the record, or, for a session we
 * did not see opened, from the module. */
static int session_slot(unsigned set, CK_SESSION_HANDLE h, CK_SLOT_ID *slot)
{
	struct p11l_module *m = p11l_set_module(set);
	CK_SESSION_INFO info;
	int found;

	found = p11l_record_session_slot(m, h, slot);
	if (found)
		return 1;

	CK_C_GetSessionInfo f = (CK_C_GetSessionInfo)__atomic_load_n(
		&p11l_set_at(set)->get_session_info, __ATOMIC_ACQUIRE);
	if (!f)
		return 0;
	memset(&info, 0, sizeof info);
	CK_RV rv = f(h, &info);
	if (rv != CKR_OK) {
		char b[32];
		p11l_log("%s: session %lu: C_GetSessionInfo -> %s; slot unknown",
			 m->path, h, p11l_ckr_name(rv, b));
		return 0;
	}
	*slot = info.slotID;
	return 1;
}

static void login_done(unsigned set, CK_SESSION_HANDLE h,
		       CK_USER_TYPE user, unsigned long order, CK_RV rv)
{
	struct p11l_module *m = p11l_set_module(set);
	CK_SLOT_ID slot;
	char b[32];
	int added;

	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
		return;
	/* A forked child that goes on with its parent's initialised module,
	 * or initialised it again while its parent was logged in: a login
	 * the token already has is its parent's (a YubiHSM's session is
	 * shared through the inherited connection), never the child's to log
	 * out. */
	p11l_lock();
	int parent = m->parent_logged_in;
	p11l_unlock();
	if (rv == CKR_USER_ALREADY_LOGGED_IN &&
	    (parent || __atomic_load_n(&m->init_pid, __ATOMIC_ACQUIRE) != p11l_self())) {
		p11l_log("%s: session %lu: already logged in by the process that initialised the module; not recorded",
			 m->path, h);
		return;
	}
	if (!session_slot(set, h, &slot)) {
		p11l_log("%s: session %lu: login not recorded: no slot", m->path, h);
		return;
	}
	p11l_lock();
	added = p11l_record_login_add(m, slot, user, order);
	/* Logged in again after a release: the program's next logout is real. */
	p11l_released_find(m, NULL, &slot, 1);
	p11l_unlock();
	if (!added) {
		p11l_warn("%s: slot %lu: out of memory; login not recorded and will not be released at exit",
			  m->path, slot);
		return;
	}
	__atomic_store_n(&m->login_pid, p11l_self(), __ATOMIC_RELEASE);
	/* The release logs out through the list the program logged in with. */
	__atomic_store_n(&m->release_set, set, __ATOMIC_RELEASE);
	p11l_log("%s: slot %lu: login as %s recorded (%s)", m->path, slot,
		 user == CKU_SO ? "SO" : "user", p11l_ckr_name(rv, b));
	p11l_release_handlers_arm();
}

/* C_Login, or C_LoginUser when BY_NAME: both are recorded alike. */
static CK_RV login(unsigned set, int by_name, CK_SESSION_HANDLE session,
		   CK_USER_TYPE user, CK_UTF8CHAR *pin, CK_ULONG pin_len,
		   CK_UTF8CHAR *username, CK_ULONG username_len)
{
	struct p11l_module *m = p11l_set_module(set);
	CK_C_Login f = (CK_C_Login)p11l_real(set, P11L_CALL_C_Login);
	CK_C_LoginUser fu = (CK_C_LoginUser)p11l_real(set, P11L_CALL_C_LoginUser);
	int recorded = user == CKU_USER || user == CKU_SO;
	struct p11l_wait w = { .module = m };
	CK_SLOT_ID place_slot = CK_UNAVAILABLE_INFORMATION;
	int placed = 0;
	unsigned long order;
	CK_RV rv;

	if (by_name ? !fu : !f)
		return CKR_FUNCTION_NOT_SUPPORTED;
	/* Taken as the call enters: at exit, logins are released in this
	 * order, so the outer module of a proxy chain goes before the inner. */
	order = p11l_stamp();
	/* P11LOGOUT_MAX_SESSIONS: no place free, no call. */
	if (recorded && p11l_config()->max_sessions) {
		if (!session_slot(set, session, &place_slot))
			place_slot = CK_UNAVAILABLE_INFORMATION;
		rv = p11l_place_take(m, place_slot, &placed);
		if (rv != CKR_OK)
			return rv;
	}
	do
		rv = by_name ? fu(session, user, pin, pin_len, username, username_len) :
			       f(session, user, pin, pin_len);
	while (recorded && p11l_wait_again(&w, rv));
	if (!recorded)
		return rv;
	/* Refused: the place taken for it goes back (not one an earlier
	 * login of the slot holds). */
	if (placed && rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
		p11l_place_give(m, &place_slot);
	if (w.tries)
		log_waited(m, by_name ? "C_LoginUser" : "C_Login", &w, rv);
	login_done(set, session, user, order, rv);
	return rv;
}

CK_RV p11l_C_Login(unsigned set, CK_SESSION_HANDLE session, CK_USER_TYPE user,
		   CK_UTF8CHAR *pin, CK_ULONG pin_len)
{
	return login(set, 0, session, user, pin, pin_len, NULL, 0);
}

CK_RV p11l_C_LoginUser(unsigned set, CK_SESSION_HANDLE session, CK_USER_TYPE user,
		       CK_UTF8CHAR *pin, CK_ULONG pin_len,
		       CK_UTF8CHAR *username, CK_ULONG username_len)
{
	return login(set, 1, session, user, pin, pin_len, username, username_len);
}

CK_RV p11l_C_Logout(unsigned set, CK_SESSION_HANDLE session)
{
	struct p11l_module *m = p11l_set_module(set);
	CK_C_Logout f = (CK_C_Logout)p11l_real(set, P11L_CALL_C_Logout);
	unsigned long stamp = p11l_stamp();
	int in_release = p11l_in_release(), closed = 0, any = 0, login = 0;
	int finalized = 0;
	CK_SLOT_ID slot;
	CK_RV rv;

	if (!f)
		return CKR_FUNCTION_NOT_SUPPORTED;
	/* The program's own logout of a slot our release logged out: the
	 * first one is answered as the module answered ours, and only that
	 * one reaches no module.  On a session our release closed, the slot
	 * is not logged in any more, as without us. */
	if (!in_release) {
		p11l_lock();
		closed = p11l_released_find(m, &session, &slot, 0);
		any = m->nreleased > 0;
		finalized = m->finalized_by_release;
		p11l_unlock();
		/* A finalized module is not asked for a session's slot. */
		if (closed || (any && !finalized && session_slot(set, session, &slot))) {
			p11l_lock();
			login = p11l_released_find(m, NULL, &slot, 1);
			p11l_unlock();
			if (login)
				return CKR_OK;
			if (closed)
				return CKR_USER_NOT_LOGGED_IN;
		}
		/* As in C_CloseSession: no other session is left. */
		if (finalized)
			return CKR_SESSION_HANDLE_INVALID;
	}
	int r = release_enter();
	rv = f(session);
	release_leave(r);
	if ((rv == CKR_OK || rv == CKR_USER_NOT_LOGGED_IN) &&
	    session_slot(set, session, &slot)) {
		p11l_lock();
		p11l_record_login_remove(m, slot, stamp);
		if (r == 1 && rv == CKR_OK && !p11l_released_add(m, slot, NULL))
			login = 1;
		p11l_unlock();
		p11l_place_give(m, &slot);
		if (login)
			p11l_log("%s: slot %lu: out of memory; the program's own logout will reach the module",
				 m->path, slot);
	}
	return rv;
}
