/* A fake PKCS#11 module for the robustness tests: thread-safe, with real
 * session and login state, and misbehaviours selected by the environment.
 *
 * The login state is the token's: it lives in a shared mapping made at the
 * first C_Initialize, so a forked child that logs out logs out its parent
 * too (as a YubiHSM's authenticated session, shared through the inherited
 * connection, would).  Sessions belong to the process that opened them.
 * Session handles are never reused.  The login state outlives a forked
 * child's C_Initialize; C_Finalize ends it.
 *
 * Environment:
 *   ODD_LOG=FILE        one line per call, "NAME CALL(ARGS) -> CKR", each
 *                       written with a single write(2) to FILE (O_APPEND)
 *   ODD_SLOTS=N         slots 1..N (1..16, default 2)
 *   ODD_MODE=W,W,...    misbehaviours (read at each call):
 *     getter-null       C_GetFunctionList returns CKR_OK and no list
 *     null-logout       the list has no C_Logout (a NULL entry)
 *     login-any-handle  C_Login answers CKR_OK to a handle it never issued
 *     sessinfo-fail     C_GetSessionInfo always fails (CKR_DEVICE_ERROR)
 *     logout-error      C_Logout always returns CKR_GENERAL_ERROR
 *     logout-hang       C_Logout never returns
 *     info-hang         C_GetInfo never returns (the module lock is free)
 *     info-hang-locked  C_GetInfo never returns, holding the module lock
 *     dlsym-ctor        the constructor looks up and calls its own getter
 *     dlsym-getter      C_GetFunctionList calls dlsym on its own handle
 *     slow-logout       C_Logout and C_CloseAllSessions take 300 ms to
 *     slow-closeall     return after they changed the state (and let other
 *                       calls in meanwhile)
 *   ODD_DUMP_AT_UNLOAD=1  the destructor logs the token's state
 *   ODD_LOGOUT_MS=N     C_Logout first says "C_Logout: slow N ms", then
 *                       sleeps N ms (holding no lock) before its work
 *
 * Built with ODD_WITH_CRYPTO, C_Logout computes an HMAC with libcrypto
 * first (a secure channel's MAC, EVP_Q_mac) and fails with
 * CKR_DEVICE_ERROR when it cannot, as after OPENSSL_cleanup().
 *
 * Exported besides the getter: odd_dump_state(tag), which logs the logged
 * in slots and the open sessions per slot.
 *
 * The token, its lock, the sessions and the log are mock-common.c's; what
 * is here is this module's voice (its log lines), its misbehaviours and
 * its function list. */
#include "config.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef ODD_WITH_CRYPTO
#include <openssl/crypto.h>
#include <openssl/evp.h>
#endif

#include "mock-module.h"

#ifndef ODD_NAME
#define ODD_NAME "odd"
#endif

const struct mock_variant mock_variant = {
	.name = ODD_NAME,
	.log_env = "ODD_LOG",
	.max_sessions = MOCK_MAX_SESSIONS,
	.shared_token = 1,
};

static p11l_function_list list;
static int list_filled;
static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER;

static int mode(const char *word)
{
	const char *v = getenv("ODD_MODE");
	size_t n = strlen(word);

	while (v && *v) {
		const char *end = strchr(v, ',');
		size_t len = end ? (size_t)(end - v) : strlen(v);

		if (len == n && strncmp(v, word, n) == 0)
			return 1;
		v = end ? end + 1 : NULL;
	}
	return 0;
}

static void slow(const char *word)
{
	struct timespec t = { 0, 300 * 1000 * 1000 };

	if (mode(word))
		nanosleep(&t, NULL);
}

static void hang(void)
{
	for (;;)
		sleep(1000);
}

/* The token keeps its logins: a forked child's C_Initialize ends none. */
static CK_RV C_Initialize(CK_VOID_PTR args)
{
	(void)args;
	return mock_initialize(mock_env_count("ODD_SLOTS", MOCK_MAX_SLOTS, 2),
			       0, MOCK_NOT_LOGGED_IN);
}

/* Fills nothing: the tests call it only to be inside the module. */
static CK_RV C_GetInfo(void *info)
{
	CK_RV rv;

	(void)info;
	if (mode("info-hang-locked")) {
		rv = mock_enter();
		mock_log("C_GetInfo: sleeping with the lock held");
		hang();
	}
	if (mode("info-hang")) {
		mock_log("C_GetInfo: sleeping");
		hang();
	}
	rv = mock_enter();
	if (rv == CKR_OK)
		mock_unlock();
	return mock_logged(rv, "C_GetInfo");
}

/* Not logged: the library asks for slots at every turn. */
static CK_RV C_GetSlotList(CK_BYTE present, CK_SLOT_ID *slots, CK_ULONG *count)
{
	(void)present;
	return mock_slot_list(slots, count);
}

static CK_RV C_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app,
			   CK_NOTIFY notify, CK_SESSION_HANDLE *h)
{
	(void)app; (void)notify;
	return mock_logged(mock_open_session(slot, flags, 0, h),
			   "C_OpenSession(slot %lu)", slot);
}

static CK_RV C_CloseSession(CK_SESSION_HANDLE h)
{
	CK_SLOT_ID slot;
	CK_RV rv = mock_close_session(h, &slot);

	if (slot == 0)
		return mock_logged(rv, "C_CloseSession(%lu)", h);
	return mock_logged(rv, "C_CloseSession(slot %lu)", slot);
}

static CK_RV C_CloseAllSessions(CK_SLOT_ID slot)
{
	CK_RV rv = mock_close_all(slot);

	if (rv == CKR_OK)
		slow("slow-closeall");
	return mock_logged(rv, "C_CloseAllSessions(slot %lu)", slot);
}

static CK_RV C_GetSessionInfo(CK_SESSION_HANDLE h, CK_SESSION_INFO *info)
{
	CK_SLOT_ID slot;

	if (mode("sessinfo-fail"))
		return mock_logged(CKR_DEVICE_ERROR, "C_GetSessionInfo");
	return mock_logged(mock_session_info(h, info, &slot),
			   "C_GetSessionInfo");
}

static CK_RV C_Login(CK_SESSION_HANDLE h, CK_USER_TYPE user,
		     CK_UTF8CHAR *pin, CK_ULONG pin_len)
{
	CK_SLOT_ID slot;
	CK_RV rv = mock_login(h, user, pin, pin_len, NULL, &slot);

	if (slot != 0)
		return mock_logged(rv, "C_Login(slot %lu)", slot);
	if (rv == CKR_SESSION_HANDLE_INVALID && mode("login-any-handle"))
		rv = CKR_OK;
	return mock_logged(rv, "C_Login(%lu)", h);
}

#ifdef ODD_WITH_CRYPTO
/* The MAC a secure channel puts on its close message.  OpenSSL 3.0's
 * EVP_Q_mac crashes once OPENSSL_cleanup() has run; OPENSSL_init_crypto
 * is documented to return 0 then, so ask it first. */
static int channel_mac(void)
{
	static const unsigned char key[32] = "0123456789abcdef0123456789abcde";
	static const unsigned char msg[] = "CLOSE SESSION";
	unsigned char out[64];
	size_t outlen = 0;

	if (!OPENSSL_init_crypto(0, NULL))
		return 0;
	return EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, sizeof key,
			 msg, sizeof msg - 1, out, sizeof out, &outlen) != NULL &&
	       outlen == 32;
}
#endif

static void slow_logout(void)
{
	const char *v = getenv("ODD_LOGOUT_MS");
	long ms = v ? atol(v) : 0;
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };

	if (ms <= 0)
		return;
	mock_log("C_Logout: slow %ld ms", ms);
	nanosleep(&t, NULL);
}

/* The misbehaviours, once the session is found (with the lock held). */
static CK_RV logout_veto(CK_SLOT_ID slot)
{
	if (mode("logout-hang")) {
		mock_unlock();
		mock_log("C_Logout(slot %lu): hanging", slot);
		hang();
	}
	if (mode("logout-error"))
		return CKR_GENERAL_ERROR;
#ifdef ODD_WITH_CRYPTO
	if (!channel_mac())
		return CKR_DEVICE_ERROR;
#endif
	return CKR_OK;
}

static CK_RV C_Logout(CK_SESSION_HANDLE h)
{
	CK_SLOT_ID slot;
	CK_RV rv;

	slow_logout();
	rv = mock_logout(h, logout_veto, &slot);
	if (slot == 0)
		return mock_logged(rv, "C_Logout(%lu)", h);
	if (rv == CKR_OK)
		slow("slow-logout");
	return mock_logged(rv, "C_Logout(slot %lu)", slot);
}

/* A signature that needs the login: the session call the tests make. */
static CK_RV C_Sign(CK_SESSION_HANDLE h, CK_BYTE *data, CK_ULONG len,
		    CK_BYTE *sig, CK_ULONG *siglen)
{
	CK_SLOT_ID slot;
	CK_RV rv = mock_check_login(h, &slot);

	if (slot == 0)
		return mock_logged(rv, "C_Sign(%lu)", h);
	if (rv != CKR_OK) {
		/* the session's slot is not logged in */
	} else if (!siglen) {
		rv = CKR_ARGUMENTS_BAD;
	} else if (!sig) {
		*siglen = 4;
	} else if (*siglen < 4) {
		*siglen = 4;
		rv = CKR_BUFFER_TOO_SMALL;
	} else {
		unsigned x = 0x5eed;
		for (CK_ULONG i = 0; data && i < len; i++)
			x = x * 31 + data[i];
		for (int i = 0; i < 4; i++)
			sig[i] = (CK_BYTE)(x >> (8 * i));
		*siglen = 4;
	}
	return mock_logged(rv, "C_Sign(slot %lu)", slot);
}

static CK_RV not_supported(void)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

#define SET(idx, f) (list.fn[idx] = (p11l_fn)(f))

static void fill_list(void)
{
	pthread_mutex_lock(&list_lock);
	if (!list_filled) {
		list.version.major = 2;
		list.version.minor = 40;
		for (int i = 0; i < P11L_FN_COUNT_2; i++)
			SET(i, not_supported);
		SET(P11L_C_Initialize, C_Initialize);
		SET(P11L_C_Finalize, mock_C_Finalize);
		SET(P11L_C_GetInfo, C_GetInfo);
		SET(P11L_C_GetSlotList, C_GetSlotList);
		SET(P11L_C_OpenSession, C_OpenSession);
		SET(P11L_C_CloseSession, C_CloseSession);
		SET(P11L_C_CloseAllSessions, C_CloseAllSessions);
		SET(P11L_C_GetSessionInfo, C_GetSessionInfo);
		SET(P11L_C_Login, C_Login);
		SET(P11L_C_Logout, C_Logout);
		SET(P11L_C_Sign, C_Sign);
		list_filled = 1;
	}
	pthread_mutex_unlock(&list_lock);
}

/* The handle of this module, from inside it. */
static void *self_handle(void)
{
	Dl_info info;

	if (!dladdr((void *)&list, &info) || !info.dli_fname)
		return NULL;
	return dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
}

MOCK_EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR pp);

MOCK_EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR pp)
{
	if (!pp)
		return CKR_ARGUMENTS_BAD;
	if (mode("dlsym-getter")) {
		void *self = self_handle();
		void *g = self ? dlsym(self, "C_GetFunctionList") : NULL;
		void *none = self ? dlsym(self, "C_GetInterface") : NULL;

		mock_log("getter: dlsym(self) %s, C_GetInterface %s",
			 g ? "found" : "not found", none ? "found" : "absent");
		if (self)
			dlclose(self);
	}
	if (mode("getter-null")) {
		*pp = NULL;
		return CKR_OK;
	}
	fill_list();
	if (mode("null-logout"))
		list.fn[P11L_C_Logout] = NULL;
	*pp = &list;
	return CKR_OK;
}

MOCK_EXPORT void odd_dump_state(const char *tag);

MOCK_EXPORT void odd_dump_state(const char *tag)
{
	char state[512];

	if (mock_describe(state, sizeof state))
		mock_log("state %s: %s", tag, state);
	else
		mock_log("state %s: no token", tag);
}

__attribute__((constructor)) static void odd_init(void)
{
	if (mode("dlsym-ctor")) {
		void *self = self_handle();
		void *g = self ? dlsym(self, "C_GetFunctionList") : NULL;
		CK_C_GetFunctionList gfl;
		CK_FUNCTION_LIST_PTR l = NULL;
		CK_RV rv = CKR_GENERAL_ERROR;

		if (g) {
			memcpy(&gfl, &g, sizeof gfl);
			rv = gfl(&l);
		}
		mock_log("constructor: dlsym(self) %s, getter -> %s, list %s",
			 g ? "found" : "not found", mock_rv_name(rv), l ? "set" : "NULL");
		if (self)
			dlclose(self);
	}
}

__attribute__((destructor)) static void odd_fini(void)
{
	if (mock_env_flag("ODD_DUMP_AT_UNLOAD"))
		odd_dump_state("unload");
}
