/* The session-lifecycle calls of a wrapped module.  Each forwards to the
 * module first, without holding our lock, and then brings the record in
 * line with what the module answered. */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include "p11logout.h"

/* Orders logins by when they entered a wrapper, so that at exit the outer
 * module of a proxy chain is logged out before the inner one. */
static unsigned long login_sequence;

#define REAL(m, idx, type, var) \
	type var; \
	do { p11l_fn f_ = p11l_real_fn(m, idx); memcpy(&var, &f_, sizeof var); } while (0)

static void log_waited(struct p11l_module *m, const char *what,
		       const struct p11l_wait *w, CK_RV rv)
{
	char b[32];

	p11l_log("%s: %s: no session free; tried again %u times -> %s", m->path,
		 what, w->tries, p11l_ckr_name(rv, b));
}

CK_RV p11l_initialize(unsigned idx, CK_VOID_PTR args)
{
	struct p11l_module *m = p11l_module_at(idx);
	REAL(m, P11L_C_Initialize, CK_C_Initialize, f);
	CK_RV rv;

	if (!f)
		return CKR_FUNCTION_NOT_SUPPORTED;
	rv = f(args);
	/* A forked child that initialises the module starts afresh: what it
	 * inherited belongs to its parent, and must never be logged out here. */
	if (rv == CKR_OK) {
		p11l_lock();
		p11l_record_forget_other_processes(m);
		p11l_unlock();
	}
	if (rv == CKR_OK || rv == CKR_CRYPTOKI_ALREADY_INITIALIZED)
		__atomic_store_n(&m->init_pid, getpid(), __ATOMIC_RELEASE);
	return rv;
}

CK_RV p11l_finalize(unsigned idx, CK_VOID_PTR reserved)
{
	struct p11l_module *m = p11l_module_at(idx);
	REAL(m, P11L_C_Finalize, CK_C_Finalize, f);
	CK_RV rv;

	unsigned long stamp = p11l_stamp();

	if (!f)
		return CKR_FUNCTION_NOT_SUPPORTED;
	rv = f(reserved);
	if (rv == CKR_OK) {
		p11l_lock();
		p11l_record_clear(m, stamp);
		p11l_unlock();
		__atomic_store_n(&m->init_pid, 0, __ATOMIC_RELEASE);
		__atomic_store_n(&m->login_pid, 0, __ATOMIC_RELEASE);
	}
	return rv;
}

CK_RV p11l_open_session(unsigned idx, CK_SLOT_ID slot, CK_FLAGS flags,
			CK_VOID_PTR app, CK_NOTIFY notify, CK_SESSION_HANDLE *session)
{
	struct p11l_module *m = p11l_module_at(idx);
	REAL(m, P11L_C_OpenSession, CK_C_OpenSession, f);
	CK_RV rv;

	struct p11l_wait w = { .module = m };

	if (!f)
		return CKR_FUNCTION_NOT_SUPPORTED;
	do
		rv = f(slot, flags, app, notify, session);
	while (p11l_wait_again(&w, rv));
	if (w.tries)
		log_waited(m, "C_OpenSession", &w, rv);
	if (rv == CKR_OK && session) {
		p11l_lock();
		int added = p11l_record_session_add(m, *session, slot);
		p11l_unlock();
		/* In mode close the sessions themselves are what is released. */
		if (p11l_config()->mode >= P11L_MODE_CLOSE)
			p11l_exit_handler_arm();
		if (!added)
			p11l_log("%s: slot %lu: out of memory; session %lu not recorded",
				 m->path, slot, *session);
	}
	return rv;
}

CK_RV p11l_close_session(unsigned idx, CK_SESSION_HANDLE session)
{
	struct p11l_module *m = p11l_module_at(idx);
	REAL(m, P11L_C_CloseSession, CK_C_CloseSession, f);
	CK_RV rv;

	if (!f)
		return CKR_FUNCTION_NOT_SUPPORTED;
	rv = f(session);
	if (rv == CKR_OK || rv == CKR_SESSION_HANDLE_INVALID ||
	    rv == CKR_SESSION_CLOSED) {
		p11l_lock();
		p11l_record_session_remove(m, session);
		p11l_unlock();
	}
	return rv;
}

CK_RV p11l_close_all_sessions(unsigned idx, CK_SLOT_ID slot)
{
	struct p11l_module *m = p11l_module_at(idx);
	REAL(m, P11L_C_CloseAllSessions, CK_C_CloseAllSessions, f);
	CK_RV rv;

	unsigned long stamp = p11l_stamp();

	if (!f)
		return CKR_FUNCTION_NOT_SUPPORTED;
	rv = f(slot);
	/* The login stays recorded: a YubiHSM keeps the authenticated session
	 * after every PKCS#11 session is closed. */
	if (rv == CKR_OK) {
		p11l_lock();
		p11l_record_sessions_remove_slot(m, slot, stamp);
		p11l_unlock();
	}
	return rv;
}

/* The slot a session belongs to: from the record, or, for a session we
 * did not see opened, from the module. */
static int session_slot(struct p11l_module *m, CK_SESSION_HANDLE h, CK_SLOT_ID *slot)
{
	CK_SESSION_INFO info;
	int found;

	p11l_lock();
	found = p11l_record_session_slot(m, h, slot);
	p11l_unlock();
	if (found)
		return 1;

	REAL(m, P11L_C_GetSessionInfo, CK_C_GetSessionInfo, f);
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

static void login_done(struct p11l_module *m, CK_SESSION_HANDLE h,
		       CK_USER_TYPE user, unsigned long order, CK_RV rv)
{
	CK_SLOT_ID slot;
	char b[32];
	int added;

	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
		return;
	if (!session_slot(m, h, &slot)) {
		p11l_log("%s: session %lu: login not recorded: no slot", m->path, h);
		return;
	}
	p11l_lock();
	added = p11l_record_login_add(m, slot, user, order);
	p11l_unlock();
	if (!added) {
		p11l_log("%s: slot %lu: out of memory; login not recorded", m->path, slot);
		return;
	}
	__atomic_store_n(&m->login_pid, getpid(), __ATOMIC_RELEASE);
	p11l_log("%s: slot %lu: login as %s recorded (%s)", m->path, slot,
		 user == CKU_SO ? "SO" : "user", p11l_ckr_name(rv, b));
	p11l_exit_handler_arm();
}

CK_RV p11l_login(unsigned idx, CK_SESSION_HANDLE session, CK_USER_TYPE user,
		 CK_UTF8CHAR *pin, CK_ULONG pin_len)
{
	struct p11l_module *m = p11l_module_at(idx);
	REAL(m, P11L_C_Login, CK_C_Login, f);
	struct p11l_wait w = { .module = m };
	unsigned long order;
	CK_RV rv;

	if (!f)
		return CKR_FUNCTION_NOT_SUPPORTED;
	if (user != CKU_USER && user != CKU_SO)
		return f(session, user, pin, pin_len);
	order = __atomic_fetch_add(&login_sequence, 1, __ATOMIC_RELAXED);
	do
		rv = f(session, user, pin, pin_len);
	while (p11l_wait_again(&w, rv));
	if (w.tries)
		log_waited(m, "C_Login", &w, rv);
	login_done(m, session, user, order, rv);
	return rv;
}

CK_RV p11l_login_user(unsigned idx, CK_SESSION_HANDLE session, CK_USER_TYPE user,
		      CK_UTF8CHAR *pin, CK_ULONG pin_len,
		      CK_UTF8CHAR *username, CK_ULONG username_len)
{
	struct p11l_module *m = p11l_module_at(idx);
	REAL(m, P11L_C_LoginUser, CK_C_LoginUser, f);
	struct p11l_wait w = { .module = m };
	unsigned long order;
	CK_RV rv;

	if (!f)
		return CKR_FUNCTION_NOT_SUPPORTED;
	if (user != CKU_USER && user != CKU_SO)
		return f(session, user, pin, pin_len, username, username_len);
	order = __atomic_fetch_add(&login_sequence, 1, __ATOMIC_RELAXED);
	do
		rv = f(session, user, pin, pin_len, username, username_len);
	while (p11l_wait_again(&w, rv));
	if (w.tries)
		log_waited(m, "C_LoginUser", &w, rv);
	login_done(m, session, user, order, rv);
	return rv;
}

CK_RV p11l_logout(unsigned idx, CK_SESSION_HANDLE session)
{
	struct p11l_module *m = p11l_module_at(idx);
	REAL(m, P11L_C_Logout, CK_C_Logout, f);
	unsigned long stamp = p11l_stamp();
	CK_SLOT_ID slot;
	CK_RV rv;

	if (!f)
		return CKR_FUNCTION_NOT_SUPPORTED;
	rv = f(session);
	if ((rv == CKR_OK || rv == CKR_USER_NOT_LOGGED_IN) &&
	    session_slot(m, session, &slot)) {
		p11l_lock();
		p11l_record_login_remove(m, slot, stamp);
		p11l_unlock();
	}
	return rv;
}
