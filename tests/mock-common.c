/* The shared core of the test modules; see mock-module.h.
 *
 * The token (the login state of each slot) and the lock that guards it
 * live in one mapping made at the first C_Initialize; the variant says
 * whether a forked child shares it.  Sessions belong to the process that
 * opened them.  Session handles are never reused, unless the variant asks
 * for the lowest free one. */
#include "config.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mock-module.h"

/* Values beyond the project header. */
#define MOCK_CKR_OPERATION_NOT_INITIALIZED 0x91UL
#define MOCK_CKS_RO_PUBLIC_SESSION 0UL
#define MOCK_CKS_RO_USER_FUNCTIONS 1UL
#define MOCK_CKS_RW_PUBLIC_SESSION 2UL
#define MOCK_CKS_RW_USER_FUNCTIONS 3UL
#define MOCK_CKS_RW_SO_FUNCTIONS 4UL
#define MOCK_FIRST_HANDLE 100

struct token {
	pthread_mutex_t lock;
	CK_ULONG login[MOCK_MAX_SLOTS + 1]; /* by slot ID */
};

struct session {
	CK_SESSION_HANDLE handle;
	CK_SLOT_ID slot;
	CK_FLAGS flags;
};

const char *mock_via = "";

static struct token *token;
static pthread_mutex_t map_lock = PTHREAD_MUTEX_INITIALIZER;
/* Guarded by token->lock. */
static int initialized;
static pid_t init_pid;
static CK_ULONG nslots;
static struct session sessions[MOCK_MAX_SESSIONS];
static size_t nsessions;
/* Never reset, not even by C_Finalize, so a stale handle stays invalid. */
static CK_SESSION_HANDLE next_handle = MOCK_FIRST_HANDLE;

const char *mock_rv_name(CK_RV rv)
{
	switch (rv) {
	case CKR_OK: return "CKR_OK";
	case CKR_SLOT_ID_INVALID: return "CKR_SLOT_ID_INVALID";
	case CKR_GENERAL_ERROR: return "CKR_GENERAL_ERROR";
	case CKR_ARGUMENTS_BAD: return "CKR_ARGUMENTS_BAD";
	case CKR_DEVICE_ERROR: return "CKR_DEVICE_ERROR";
	case CKR_FUNCTION_NOT_SUPPORTED: return "CKR_FUNCTION_NOT_SUPPORTED";
	case MOCK_CKR_OPERATION_NOT_INITIALIZED:
		return "CKR_OPERATION_NOT_INITIALIZED";
	case CKR_PIN_INCORRECT: return "CKR_PIN_INCORRECT";
	case CKR_SESSION_COUNT: return "CKR_SESSION_COUNT";
	case CKR_SESSION_HANDLE_INVALID: return "CKR_SESSION_HANDLE_INVALID";
	case CKR_USER_ALREADY_LOGGED_IN: return "CKR_USER_ALREADY_LOGGED_IN";
	case CKR_USER_NOT_LOGGED_IN: return "CKR_USER_NOT_LOGGED_IN";
	case CKR_USER_TYPE_INVALID: return "CKR_USER_TYPE_INVALID";
	case CKR_BUFFER_TOO_SMALL: return "CKR_BUFFER_TOO_SMALL";
	case CKR_CRYPTOKI_NOT_INITIALIZED: return "CKR_CRYPTOKI_NOT_INITIALIZED";
	case CKR_CRYPTOKI_ALREADY_INITIALIZED:
		return "CKR_CRYPTOKI_ALREADY_INITIALIZED";
	default: return "CKR_?";
	}
}

int mock_env_flag(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && strcmp(v, "1") == 0;
}

CK_ULONG mock_env_count(const char *name, CK_ULONG max, CK_ULONG dflt)
{
	const char *v = getenv(name);
	long n = v != NULL ? strtol(v, NULL, 10) : 0;

	return n >= 1 && (CK_ULONG)n <= max ? (CK_ULONG)n : dflt;
}

/* rv_text NULL: a note, not a call. */
static void vlog(const char *rv_text, const char *fmt, va_list ap)
{
	const char *path = getenv(mock_variant.log_env);
	char line[512];
	int n, fd;

	if (path == NULL || *path == '\0')
		return;
	n = snprintf(line, sizeof line, "%s ", mock_variant.name);
	n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	if (rv_text != NULL && n < (int)sizeof line)
		n += snprintf(line + n, sizeof line - (size_t)n, "%s -> %s",
			      mock_via, rv_text);
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

void mock_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(NULL, fmt, ap);
	va_end(ap);
}

CK_RV mock_logged(CK_RV rv, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(mock_rv_name(rv), fmt, ap);
	va_end(ap);
	return rv;
}

static int make_token(void)
{
	int shared = mock_variant.shared_token;
	pthread_mutexattr_t a;
	struct token *t;

	pthread_mutex_lock(&map_lock);
	if (token) {
		pthread_mutex_unlock(&map_lock);
		return 1;
	}
	t = mmap(NULL, sizeof *t, PROT_READ | PROT_WRITE,
		 (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS, -1, 0);
	if (t == MAP_FAILED) {
		pthread_mutex_unlock(&map_lock);
		return 0;
	}
	pthread_mutexattr_init(&a);
	if (shared)
		pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutex_init(&t->lock, &a);
	pthread_mutexattr_destroy(&a);
	for (int i = 0; i <= MOCK_MAX_SLOTS; i++)
		t->login[i] = MOCK_NOT_LOGGED_IN;
	__atomic_store_n(&token, t, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&map_lock);
	return 1;
}

static void lock(void)
{
	pthread_mutex_lock(&token->lock);
}

void mock_unlock(void)
{
	pthread_mutex_unlock(&token->lock);
}

CK_RV mock_enter(void)
{
	if (!__atomic_load_n(&token, __ATOMIC_ACQUIRE))
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	lock();
	/* A forked child may go on using what it inherited, as a module
	 * that does not watch for fork lets it. */
	if (!initialized) {
		mock_unlock();
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	}
	return CKR_OK;
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

static int slot_valid(CK_SLOT_ID slot)
{
	return slot >= 1 && slot <= nslots;
}

CK_RV mock_initialize(CK_ULONG n, int reset_login, CK_ULONG login)
{
	CK_RV rv = CKR_OK;

	if (!make_token())
		return mock_logged(CKR_GENERAL_ERROR, "C_Initialize");
	lock();
	if (initialized && init_pid == getpid()) {
		rv = CKR_CRYPTOKI_ALREADY_INITIALIZED;
	} else {
		/* In a forked child the sessions it inherited are not its own. */
		nsessions = 0;
		initialized = 1;
		init_pid = getpid();
		nslots = n;
		for (int i = 0; reset_login && i <= MOCK_MAX_SLOTS; i++)
			token->login[i] = login;
	}
	mock_unlock();
	return mock_logged(rv, "C_Initialize");
}

CK_RV mock_C_Finalize(CK_VOID_PTR reserved)
{
	CK_RV rv = mock_enter();

	if (rv != CKR_OK)
		return mock_logged(rv, "C_Finalize");
	if (reserved != NULL) {
		mock_unlock();
		return mock_logged(CKR_ARGUMENTS_BAD, "C_Finalize");
	}
	/* The application's connection ends: its sessions and its login. */
	nsessions = 0;
	for (int i = 0; i <= MOCK_MAX_SLOTS; i++)
		token->login[i] = MOCK_NOT_LOGGED_IN;
	initialized = 0;
	mock_unlock();
	return mock_logged(CKR_OK, "C_Finalize");
}

CK_RV mock_slot_list(CK_SLOT_ID *slots, CK_ULONG *count)
{
	CK_RV rv = mock_enter();

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
	mock_unlock();
	return rv;
}

static CK_SESSION_HANDLE lowest_free_handle(void)
{
	CK_SESSION_HANDLE h = MOCK_FIRST_HANDLE;

	while (find(h))
		h++;
	return h;
}

CK_RV mock_open_session(CK_SLOT_ID slot, CK_FLAGS flags, int reuse,
			CK_SESSION_HANDLE *ph)
{
	CK_RV rv = mock_enter();

	if (rv != CKR_OK)
		return rv;
	if (!slot_valid(slot)) {
		rv = CKR_SLOT_ID_INVALID;
	} else if (!ph || !(flags & CKF_SERIAL_SESSION)) {
		rv = CKR_ARGUMENTS_BAD;
	} else if (nsessions == mock_variant.max_sessions ||
		   nsessions == MOCK_MAX_SESSIONS) {
		rv = CKR_SESSION_COUNT;
	} else {
		struct session *s = &sessions[nsessions];

		s->handle = reuse ? lowest_free_handle() : next_handle++;
		s->slot = slot;
		s->flags = flags;
		*ph = s->handle;
		nsessions++;
	}
	mock_unlock();
	return rv;
}

/* Runs op on session h with the lock held; *slot is the session's slot,
 * or 0 when it is not found (or the module not initialised). */
static CK_RV on_session(CK_SESSION_HANDLE h, CK_SLOT_ID *slot,
			CK_RV (*op)(struct session *s, void *arg), void *arg)
{
	struct session *s;
	CK_RV rv = mock_enter();

	*slot = 0;
	if (rv != CKR_OK)
		return rv;
	s = find(h);
	if (s == NULL) {
		rv = CKR_SESSION_HANDLE_INVALID;
	} else {
		*slot = s->slot;
		rv = op(s, arg);
	}
	mock_unlock();
	return rv;
}

static CK_RV close_op(struct session *s, void *arg)
{
	(void)arg;
	drop(s);
	return CKR_OK;
}

CK_RV mock_close_session(CK_SESSION_HANDLE h, CK_SLOT_ID *slot)
{
	return on_session(h, slot, close_op, NULL);
}

CK_RV mock_close_all(CK_SLOT_ID slot)
{
	CK_RV rv = mock_enter();

	if (rv != CKR_OK)
		return rv;
	if (!slot_valid(slot)) {
		rv = CKR_SLOT_ID_INVALID;
	} else {
		for (size_t i = 0; i < nsessions;) {
			if (sessions[i].slot == slot)
				drop(&sessions[i]);
			else
				i++;
		}
	}
	mock_unlock();
	return rv;
}

static CK_ULONG session_state(const struct session *s)
{
	CK_ULONG user = token->login[s->slot];
	int rw = (s->flags & CKF_RW_SESSION) != 0;

	if (user == CKU_SO)
		return MOCK_CKS_RW_SO_FUNCTIONS;
	if (user == CKU_USER)
		return rw ? MOCK_CKS_RW_USER_FUNCTIONS
			  : MOCK_CKS_RO_USER_FUNCTIONS;
	return rw ? MOCK_CKS_RW_PUBLIC_SESSION : MOCK_CKS_RO_PUBLIC_SESSION;
}

static CK_RV info_op(struct session *s, void *arg)
{
	CK_SESSION_INFO *info = arg;

	if (!info)
		return CKR_ARGUMENTS_BAD;
	info->slotID = s->slot;
	info->state = session_state(s);
	info->flags = s->flags;
	info->ulDeviceError = 0;
	return CKR_OK;
}

CK_RV mock_session_info(CK_SESSION_HANDLE h, CK_SESSION_INFO *info,
			CK_SLOT_ID *slot)
{
	return on_session(h, slot, info_op, info);
}

struct login_args {
	CK_USER_TYPE user;
	const CK_UTF8CHAR *pin;
	CK_ULONG pin_len;
	const char *want_pin;
};

static CK_RV login_op(struct session *s, void *arg)
{
	const struct login_args *l = arg;
	CK_ULONG *login = &token->login[s->slot];

	/* No operation needs it here, but that is for the token to say;
	 * this token accepts it and it changes no login state. */
	if (l->user == CKU_CONTEXT_SPECIFIC)
		return CKR_OK;
	if (l->user != CKU_USER && l->user != CKU_SO)
		return CKR_USER_TYPE_INVALID;
	if (*login != MOCK_NOT_LOGGED_IN)
		return CKR_USER_ALREADY_LOGGED_IN;
	if (l->want_pin != NULL &&
	    (l->pin == NULL || strlen(l->want_pin) != l->pin_len ||
	     memcmp(l->want_pin, l->pin, l->pin_len) != 0))
		return CKR_PIN_INCORRECT;
	*login = l->user;
	return CKR_OK;
}

CK_RV mock_login(CK_SESSION_HANDLE h, CK_USER_TYPE user,
		 const CK_UTF8CHAR *pin, CK_ULONG pin_len, const char *want_pin,
		 CK_SLOT_ID *slot)
{
	struct login_args l = { user, pin, pin_len, want_pin };

	return on_session(h, slot, login_op, &l);
}

struct logout_args {
	CK_RV (*veto)(CK_SLOT_ID slot);
};

static CK_RV logout_op(struct session *s, void *arg)
{
	const struct logout_args *l = arg;
	CK_RV rv = l->veto != NULL ? l->veto(s->slot) : CKR_OK;

	/* A veto changes nothing. */
	if (rv != CKR_OK)
		return rv;
	if (token->login[s->slot] == MOCK_NOT_LOGGED_IN)
		return CKR_USER_NOT_LOGGED_IN;
	token->login[s->slot] = MOCK_NOT_LOGGED_IN;
	return CKR_OK;
}

CK_RV mock_logout(CK_SESSION_HANDLE h, CK_RV (*veto)(CK_SLOT_ID slot),
		  CK_SLOT_ID *slot)
{
	struct logout_args l = { veto };

	return on_session(h, slot, logout_op, &l);
}

static CK_RV check_login_op(struct session *s, void *arg)
{
	(void)arg;
	return token->login[s->slot] == MOCK_NOT_LOGGED_IN
		       ? CKR_USER_NOT_LOGGED_IN
		       : CKR_OK;
}

CK_RV mock_check_login(CK_SESSION_HANDLE h, CK_SLOT_ID *slot)
{
	return on_session(h, slot, check_login_op, NULL);
}

int mock_describe(char *buf, size_t size)
{
	char in[128] = "", open[256] = "";
	size_t a = 0, b = 0;

	if (!__atomic_load_n(&token, __ATOMIC_ACQUIRE))
		return 0;
	lock();
	for (CK_ULONG s = 1; s <= nslots; s++) {
		size_t n = 0;

		if (token->login[s] != MOCK_NOT_LOGGED_IN)
			a += (size_t)snprintf(in + a, sizeof in - a, " %lu", s);
		for (size_t i = 0; i < nsessions; i++)
			n += sessions[i].slot == s;
		if (n)
			b += (size_t)snprintf(open + b, sizeof open - b,
					      " %lu:%zu", s, n);
	}
	mock_unlock();
	snprintf(buf, size, "logged in:%s; sessions:%s", a ? in : " none",
		 b ? open : " none");
	return 1;
}
