/* A fake PKCS#11 module for the robustness tests: thread-safe, with real
 * session and login state, and misbehaviours selected by the environment.
 *
 * The login state is the token's: it lives in a shared mapping made at the
 * first C_Initialize, so a forked child that logs out logs out its parent
 * too (as a YubiHSM's authenticated session, shared through the inherited
 * connection, would).  Sessions belong to the process that opened them.
 * Session handles are never reused.
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
 * in slots and the open sessions per slot. */
#include "config.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#ifdef ODD_WITH_CRYPTO
#include <openssl/crypto.h>
#include <openssl/evp.h>
#endif

#include "pkcs11-types.h"

#ifndef ODD_NAME
#define ODD_NAME "odd"
#endif

#define ODD_EXPORT __attribute__((visibility("default")))
#define ODD_MAX_SLOTS 16
#define ODD_MAX_SESSIONS 4096
#define ODD_NONE ((CK_ULONG)-1)

/* The token: shared between a process and its forked children. */
struct token {
	pthread_mutex_t lock;
	CK_ULONG login[ODD_MAX_SLOTS + 1];
};

struct session {
	CK_SESSION_HANDLE handle;
	CK_SLOT_ID slot;
};

static struct token *token;
static pthread_mutex_t map_lock = PTHREAD_MUTEX_INITIALIZER;
/* Guarded by token->lock. */
static int initialized;
static pid_t init_pid;
static CK_ULONG nslots = 2;
static struct session sessions[ODD_MAX_SESSIONS];
static size_t nsessions;
static CK_SESSION_HANDLE next_handle = 100;

static p11l_function_list list;
static int list_filled;

static const char *rv_name(CK_RV rv)
{
	switch (rv) {
	case CKR_OK: return "CKR_OK";
	case CKR_SLOT_ID_INVALID: return "CKR_SLOT_ID_INVALID";
	case CKR_GENERAL_ERROR: return "CKR_GENERAL_ERROR";
	case CKR_ARGUMENTS_BAD: return "CKR_ARGUMENTS_BAD";
	case CKR_DEVICE_ERROR: return "CKR_DEVICE_ERROR";
	case CKR_SESSION_COUNT: return "CKR_SESSION_COUNT";
	case CKR_SESSION_HANDLE_INVALID: return "CKR_SESSION_HANDLE_INVALID";
	case CKR_USER_ALREADY_LOGGED_IN: return "CKR_USER_ALREADY_LOGGED_IN";
	case CKR_USER_NOT_LOGGED_IN: return "CKR_USER_NOT_LOGGED_IN";
	case CKR_CRYPTOKI_NOT_INITIALIZED: return "CKR_CRYPTOKI_NOT_INITIALIZED";
	case CKR_CRYPTOKI_ALREADY_INITIALIZED: return "CKR_CRYPTOKI_ALREADY_INITIALIZED";
	case CKR_BUFFER_TOO_SMALL: return "CKR_BUFFER_TOO_SMALL";
	default: return "CKR_?";
	}
}

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

__attribute__((format(printf, 1, 2)))
static void log_line(const char *fmt, ...)
{
	const char *path = getenv("ODD_LOG");
	char line[512];
	va_list ap;
	int n, fd;

	if (!path || !*path)
		return;
	n = snprintf(line, sizeof line, "%s ", ODD_NAME);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof line - 2)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (write(fd, line, (size_t)n) < 0) {
		/* nothing to do: the log is best effort */
	}
	close(fd);
}

static CK_RV logged(CK_RV rv, const char *what)
{
	log_line("%s -> %s", what, rv_name(rv));
	return rv;
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

static void lock(void)
{
	pthread_mutex_lock(&token->lock);
}

static void unlock(void)
{
	pthread_mutex_unlock(&token->lock);
}

static struct session *find(CK_SESSION_HANDLE h)
{
	for (size_t i = 0; i < nsessions; i++)
		if (sessions[i].handle == h)
			return &sessions[i];
	return NULL;
}

static void drop(struct session *s)
{
	*s = sessions[--nsessions];
}

static int make_token(void)
{
	pthread_mutexattr_t a;
	struct token *t;

	pthread_mutex_lock(&map_lock);
	if (token) {
		pthread_mutex_unlock(&map_lock);
		return 1;
	}
	t = mmap(NULL, sizeof *t, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (t == MAP_FAILED) {
		pthread_mutex_unlock(&map_lock);
		return 0;
	}
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutex_init(&t->lock, &a);
	pthread_mutexattr_destroy(&a);
	for (int i = 0; i <= ODD_MAX_SLOTS; i++)
		t->login[i] = ODD_NONE;
	__atomic_store_n(&token, t, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&map_lock);
	return 1;
}

/* Returns CKR_OK with the lock held, or an error without it. */
static CK_RV enter(void)
{
	if (!__atomic_load_n(&token, __ATOMIC_ACQUIRE))
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	lock();
	/* A forked child may go on using what it inherited, as a module
	 * that does not watch for fork lets it. */
	if (!initialized) {
		unlock();
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	}
	return CKR_OK;
}

static CK_RV C_Initialize(CK_VOID_PTR args)
{
	const char *n = getenv("ODD_SLOTS");
	CK_RV rv = CKR_OK;

	(void)args;
	if (!make_token())
		return logged(CKR_GENERAL_ERROR, "C_Initialize");
	lock();
	if (initialized && init_pid == getpid()) {
		rv = CKR_CRYPTOKI_ALREADY_INITIALIZED;
	} else {
		/* In a forked child the sessions it inherited are not its own. */
		nsessions = 0;
		initialized = 1;
		init_pid = getpid();
		nslots = 2;
		if (n && atoi(n) >= 1 && atoi(n) <= ODD_MAX_SLOTS)
			nslots = (CK_ULONG)atoi(n);
	}
	unlock();
	return logged(rv, "C_Initialize");
}

static CK_RV C_Finalize(CK_VOID_PTR reserved)
{
	CK_RV rv = enter();

	(void)reserved;
	if (rv != CKR_OK)
		return logged(rv, "C_Finalize");
	/* The application's connection ends: its sessions and its login. */
	nsessions = 0;
	for (CK_ULONG s = 1; s <= nslots; s++)
		token->login[s] = ODD_NONE;
	initialized = 0;
	unlock();
	return logged(CKR_OK, "C_Finalize");
}

static CK_RV C_GetInfo(void *info)
{
	CK_RV rv;

	(void)info;
	if (mode("info-hang-locked")) {
		rv = enter();
		log_line("C_GetInfo: sleeping with the lock held");
		hang();
	}
	if (mode("info-hang")) {
		log_line("C_GetInfo: sleeping");
		hang();
	}
	rv = enter();
	if (rv == CKR_OK)
		unlock();
	return logged(rv, "C_GetInfo");
}

static CK_RV C_GetSlotList(CK_BYTE present, CK_SLOT_ID *slots, CK_ULONG *count)
{
	CK_RV rv = enter();

	(void)present;
	if (rv != CKR_OK)
		return rv;
	if (!count) {
		rv = CKR_ARGUMENTS_BAD;
	} else if (!slots) {
		*count = nslots;
	} else if (*count < nslots) {
		*count = nslots;
		rv = CKR_BUFFER_TOO_SMALL;
	} else {
		for (CK_ULONG i = 0; i < nslots; i++)
			slots[i] = i + 1;
		*count = nslots;
	}
	unlock();
	return rv;
}

static CK_RV C_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app,
			   CK_NOTIFY notify, CK_SESSION_HANDLE *h)
{
	char what[64];
	CK_RV rv = enter();

	(void)flags; (void)app; (void)notify;
	snprintf(what, sizeof what, "C_OpenSession(slot %lu)", slot);
	if (rv != CKR_OK)
		return logged(rv, what);
	if (slot < 1 || slot > nslots) {
		rv = CKR_SLOT_ID_INVALID;
	} else if (!h) {
		rv = CKR_ARGUMENTS_BAD;
	} else if (nsessions == ODD_MAX_SESSIONS) {
		rv = CKR_SESSION_COUNT;
	} else {
		sessions[nsessions].handle = next_handle++;
		sessions[nsessions].slot = slot;
		*h = sessions[nsessions].handle;
		nsessions++;
	}
	unlock();
	return logged(rv, what);
}

static CK_RV C_CloseSession(CK_SESSION_HANDLE h)
{
	char what[64];
	struct session *s;
	CK_RV rv = enter();

	snprintf(what, sizeof what, "C_CloseSession(%lu)", h);
	if (rv != CKR_OK)
		return logged(rv, what);
	s = find(h);
	if (!s) {
		rv = CKR_SESSION_HANDLE_INVALID;
	} else {
		snprintf(what, sizeof what, "C_CloseSession(slot %lu)", s->slot);
		drop(s);
	}
	unlock();
	return logged(rv, what);
}

static CK_RV C_CloseAllSessions(CK_SLOT_ID slot)
{
	char what[64];
	CK_RV rv = enter();

	snprintf(what, sizeof what, "C_CloseAllSessions(slot %lu)", slot);
	if (rv != CKR_OK)
		return logged(rv, what);
	if (slot < 1 || slot > nslots) {
		rv = CKR_SLOT_ID_INVALID;
	} else {
		for (size_t i = 0; i < nsessions;) {
			if (sessions[i].slot == slot)
				drop(&sessions[i]);
			else
				i++;
		}
	}
	unlock();
	if (rv == CKR_OK)
		slow("slow-closeall");
	return logged(rv, what);
}

static CK_RV C_GetSessionInfo(CK_SESSION_HANDLE h, CK_SESSION_INFO *info)
{
	struct session *s;
	CK_RV rv;

	if (mode("sessinfo-fail"))
		return logged(CKR_DEVICE_ERROR, "C_GetSessionInfo");
	rv = enter();
	if (rv != CKR_OK)
		return logged(rv, "C_GetSessionInfo");
	s = find(h);
	if (!s) {
		rv = CKR_SESSION_HANDLE_INVALID;
	} else if (!info) {
		rv = CKR_ARGUMENTS_BAD;
	} else {
		memset(info, 0, sizeof *info);
		info->slotID = s->slot;
		info->state = token->login[s->slot] == ODD_NONE ? 0 : 1;
	}
	unlock();
	return logged(rv, "C_GetSessionInfo");
}

static CK_RV C_Login(CK_SESSION_HANDLE h, CK_USER_TYPE user,
		     CK_UTF8CHAR *pin, CK_ULONG pin_len)
{
	char what[64];
	struct session *s;
	CK_RV rv = enter();

	(void)pin; (void)pin_len;
	snprintf(what, sizeof what, "C_Login(%lu)", h);
	if (rv != CKR_OK)
		return logged(rv, what);
	s = find(h);
	if (!s) {
		rv = mode("login-any-handle") ? CKR_OK : CKR_SESSION_HANDLE_INVALID;
	} else {
		snprintf(what, sizeof what, "C_Login(slot %lu)", s->slot);
		if (token->login[s->slot] != ODD_NONE)
			rv = CKR_USER_ALREADY_LOGGED_IN;
		else
			token->login[s->slot] = user;
	}
	unlock();
	return logged(rv, what);
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
	log_line("C_Logout: slow %ld ms", ms);
	nanosleep(&t, NULL);
}

static CK_RV C_Logout(CK_SESSION_HANDLE h)
{
	char what[64];
	struct session *s;
	CK_SLOT_ID slot;
	CK_RV rv;

	slow_logout();
	rv = enter();

	snprintf(what, sizeof what, "C_Logout(%lu)", h);
	if (rv != CKR_OK)
		return logged(rv, what);
	s = find(h);
	if (!s) {
		unlock();
		return logged(CKR_SESSION_HANDLE_INVALID, what);
	}
	slot = s->slot;
	snprintf(what, sizeof what, "C_Logout(slot %lu)", slot);
	if (mode("logout-hang")) {
		unlock();
		log_line("%s: hanging", what);
		hang();
	}
	if (mode("logout-error")) {
		unlock();
		return logged(CKR_GENERAL_ERROR, what);
	}
#ifdef ODD_WITH_CRYPTO
	if (!channel_mac()) {
		unlock();
		return logged(CKR_DEVICE_ERROR, what);
	}
#endif
	if (token->login[slot] == ODD_NONE) {
		rv = CKR_USER_NOT_LOGGED_IN;
	} else {
		token->login[slot] = ODD_NONE;
	}
	unlock();
	if (rv == CKR_OK)
		slow("slow-logout");
	return logged(rv, what);
}

/* A signature that needs the login: the session call the tests make. */
static CK_RV C_Sign(CK_SESSION_HANDLE h, CK_BYTE *data, CK_ULONG len,
		    CK_BYTE *sig, CK_ULONG *siglen)
{
	char what[64];
	struct session *s;
	CK_RV rv = enter();

	snprintf(what, sizeof what, "C_Sign(%lu)", h);
	if (rv != CKR_OK)
		return logged(rv, what);
	s = find(h);
	if (!s) {
		rv = CKR_SESSION_HANDLE_INVALID;
	} else {
		snprintf(what, sizeof what, "C_Sign(slot %lu)", s->slot);
		if (token->login[s->slot] == ODD_NONE) {
			rv = CKR_USER_NOT_LOGGED_IN;
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
	}
	unlock();
	return logged(rv, what);
}

static CK_RV not_supported(void)
{
	return CKR_FUNCTION_NOT_SUPPORTED;
}

#define SET(idx, f) (list.fn[idx] = (p11l_fn)(f))

static void fill_list(void)
{
	pthread_mutex_lock(&map_lock);
	if (!list_filled) {
		list.version.major = 2;
		list.version.minor = 40;
		for (int i = 0; i < P11L_FN_COUNT_2; i++)
			SET(i, not_supported);
		SET(P11L_C_Initialize, C_Initialize);
		SET(P11L_C_Finalize, C_Finalize);
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
	pthread_mutex_unlock(&map_lock);
}

/* The handle of this module, from inside it. */
static void *self_handle(void)
{
	Dl_info info;

	if (!dladdr((void *)&list, &info) || !info.dli_fname)
		return NULL;
	return dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
}

ODD_EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR pp);

ODD_EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR pp)
{
	if (!pp)
		return CKR_ARGUMENTS_BAD;
	if (mode("dlsym-getter")) {
		void *self = self_handle();
		void *g = self ? dlsym(self, "C_GetFunctionList") : NULL;
		void *none = self ? dlsym(self, "C_GetInterface") : NULL;

		log_line("getter: dlsym(self) %s, C_GetInterface %s",
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

ODD_EXPORT void odd_dump_state(const char *tag);

ODD_EXPORT void odd_dump_state(const char *tag)
{
	char in[128] = "", open[256] = "";
	size_t a = 0, b = 0;

	if (!token) {
		log_line("state %s: no token", tag);
		return;
	}
	lock();
	for (CK_ULONG s = 1; s <= nslots; s++) {
		size_t n = 0;

		if (token->login[s] != ODD_NONE)
			a += (size_t)snprintf(in + a, sizeof in - a, " %lu", s);
		for (size_t i = 0; i < nsessions; i++)
			n += sessions[i].slot == s;
		if (n)
			b += (size_t)snprintf(open + b, sizeof open - b, " %lu:%zu", s, n);
	}
	unlock();
	log_line("state %s: logged in:%s; sessions:%s", tag, a ? in : " none",
		 b ? open : " none");
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
		log_line("constructor: dlsym(self) %s, getter -> %s, list %s",
			 g ? "found" : "not found", rv_name(rv), l ? "set" : "NULL");
		if (self)
			dlclose(self);
	}
}

__attribute__((destructor)) static void odd_fini(void)
{
	const char *v = getenv("ODD_DUMP_AT_UNLOAD");

	if (v && strcmp(v, "1") == 0)
		odd_dump_state("unload");
}
