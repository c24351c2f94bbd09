/* A fake PKCS#11 module for the tests: it keeps real session and login
 * state and appends one line per call it receives to the file named by
 * FAKE_LOG, so a test can see exactly what reached the module, and in
 * which order.  The PIN is never written anywhere.
 *
 * The token it models keeps its login state until C_Logout or C_Finalize,
 * even when every session is closed (like a card that stays verified):
 * that is the case libp11logout exists for.
 *
 * Environment (read at C_Initialize unless said otherwise):
 *   FAKE_LOG=FILE            append one line per call to FILE
 *   FAKE_SLOTS=N             number of slots (1..8, default 1); slot IDs
 *                            are 1..N
 *   FAKE_PIN=PIN             if set, C_Login with another PIN fails with
 *                            CKR_PIN_INCORRECT
 *   FAKE_PRELOGIN=1          every slot starts logged in as CKU_USER (as if
 *                            another application had logged in), so a
 *                            C_Login returns CKR_USER_ALREADY_LOGGED_IN
 *   FAKE_GETTER_FAIL=1       (at each call) every getter returns
 *                            CKR_GENERAL_ERROR
 *   FAKE_GETTER_NULL=1       (at each call) C_GetFunctionList and
 *                            C_GetInterface return CKR_OK and no list
 *   FAKE_LOGOUT_FAIL=1       (at each call) C_Logout returns
 *                            CKR_DEVICE_ERROR and changes nothing
 *   FAKE_LIST2_VERSION=M.N   (at the first getter call) the version the
 *                            C_GetFunctionList list claims, still in an
 *                            allocation of the 2.x size (SoftHSM2 2.7.0
 *                            claims 3.2 there)
 *   FAKE_REUSE_HANDLES=1     (at each C_OpenSession) a new session gets
 *                            the lowest handle not in use (from 100), so a
 *                            closed session's handle comes back
 *   FAKE_SPLIT_LISTS=1       (at the first getter call) the 2.x list's
 *                            C_Login, C_Logout and C_CloseSession are
 *                            functions of their own, which log "list=2.x"
 *
 * Built twice, with different FAKE_NAME, so that a test has two modules
 * at two paths; every log line starts with that name. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkcs11-types.h"

#ifndef FAKE_NAME
#define FAKE_NAME "fake1"
#endif

#define FAKE_EXPORT __attribute__((visibility("default")))

/* Values this test needs beyond the project header. */
#define FAKE_CKR_OPERATION_NOT_INITIALIZED 0x91UL
#define FAKE_CKF_TOKEN_PRESENT 0x1UL
#define FAKE_CKS_RO_PUBLIC_SESSION 0UL
#define FAKE_CKS_RO_USER_FUNCTIONS 1UL
#define FAKE_CKS_RW_PUBLIC_SESSION 2UL
#define FAKE_CKS_RW_USER_FUNCTIONS 3UL
#define FAKE_CKS_RW_SO_FUNCTIONS 4UL

#define FAKE_MAX_SLOTS 8
#define FAKE_MAX_SESSIONS 64
#define FAKE_NOT_LOGGED_IN ((CK_ULONG)-1)

/* The lists are allocated at exactly their standard size, so that a reader
 * running past the end of one is caught by ASan or valgrind. */
struct fake_list_2 {
	CK_VERSION version;
	p11l_fn fn[P11L_FN_COUNT_2];
};
/* The 3.x list: 3.0 by default; FAKE_IFACE_VERSION=3.2 gives the 3.2
 * layout, and any other version (say 9.9) one the library does not know.
 * Allocated with only as many entries as that version has. */
struct fake_list_3_0 {
	CK_VERSION version;
	p11l_fn fn[P11L_FN_COUNT_3_2];
};
_Static_assert(sizeof(struct fake_list_2) == 8 + 68 * 8 || sizeof(p11l_fn) != 8,
	       "2.x list must be 8 + 68 pointers");
_Static_assert(offsetof(struct fake_list_2, fn) ==
		       offsetof(p11l_function_list, fn),
	       "same layout as the project's list");

struct fake_session {
	int open;
	CK_SESSION_HANDLE handle;
	CK_SLOT_ID slot;
	CK_FLAGS flags;
};

static struct {
	int initialized;
	CK_ULONG nslots;
	CK_ULONG login[FAKE_MAX_SLOTS + 1]; /* by slot ID; user type or none */
	struct fake_session sessions[FAKE_MAX_SESSIONS];
} st;

/* Never reset, not even by C_Finalize: a handle is never reused, so a
 * stale one is always invalid. */
static CK_SESSION_HANDLE next_handle = 100;

static struct fake_list_2 *list_2;
static struct fake_list_3_0 *list_3_0;
static CK_INTERFACE interfaces[2];
static CK_UTF8CHAR interface_name[] = P11L_INTERFACE_NAME;

/* Set by the 2.x list's own functions (FAKE_SPLIT_LISTS) while they run. */
static const char *via = "";

static const char *rv_name(CK_RV rv)
{
	switch (rv) {
	case CKR_OK: return "CKR_OK";
	case CKR_SLOT_ID_INVALID: return "CKR_SLOT_ID_INVALID";
	case CKR_GENERAL_ERROR: return "CKR_GENERAL_ERROR";
	case CKR_ARGUMENTS_BAD: return "CKR_ARGUMENTS_BAD";
	case CKR_DEVICE_ERROR: return "CKR_DEVICE_ERROR";
	case CKR_FUNCTION_NOT_SUPPORTED: return "CKR_FUNCTION_NOT_SUPPORTED";
	case FAKE_CKR_OPERATION_NOT_INITIALIZED:
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

static int env_flag(const char *name)
{
	const char *v = getenv(name);
	return v != NULL && strcmp(v, "1") == 0;
}

/* Appends "FAKE_NAME <what> -> <CKR>" to the log and returns rv. */
__attribute__((format(printf, 2, 3)))
static CK_RV logged(CK_RV rv, const char *fmt, ...)
{
	const char *path = getenv("FAKE_LOG");
	FILE *f;
	va_list ap;

	if (path == NULL || *path == '\0')
		return rv;
	f = fopen(path, "a");
	if (f == NULL)
		return rv;
	fputs(FAKE_NAME " ", f);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fprintf(f, "%s -> %s\n", via, rv_name(rv));
	fclose(f);
	return rv;
}

static int slot_valid(CK_SLOT_ID slot)
{
	return slot >= 1 && slot <= st.nslots;
}

static struct fake_session *find_session(CK_SESSION_HANDLE h)
{
	for (int i = 0; i < FAKE_MAX_SESSIONS; i++)
		if (st.sessions[i].open && st.sessions[i].handle == h)
			return &st.sessions[i];
	return NULL;
}

static CK_RV C_Initialize(CK_VOID_PTR args)
{
	const char *n;

	(void)args;
	if (st.initialized)
		return logged(CKR_CRYPTOKI_ALREADY_INITIALIZED, "C_Initialize");
	memset(&st, 0, sizeof st);
	st.initialized = 1;
	st.nslots = 1;
	n = getenv("FAKE_SLOTS");
	if (n != NULL) {
		long v = strtol(n, NULL, 10);
		if (v >= 1 && v <= FAKE_MAX_SLOTS)
			st.nslots = (CK_ULONG)v;
	}
	for (CK_ULONG s = 0; s <= FAKE_MAX_SLOTS; s++)
		st.login[s] = env_flag("FAKE_PRELOGIN") ? CKU_USER
							: FAKE_NOT_LOGGED_IN;
	return logged(CKR_OK, "C_Initialize");
}

static CK_RV C_Finalize(CK_VOID_PTR reserved)
{
	if (!st.initialized)
		return logged(CKR_CRYPTOKI_NOT_INITIALIZED, "C_Finalize");
	if (reserved != NULL)
		return logged(CKR_ARGUMENTS_BAD, "C_Finalize");
	memset(&st, 0, sizeof st);
	return logged(CKR_OK, "C_Finalize");
}

struct fake_info {
	CK_VERSION cryptokiVersion;
	CK_UTF8CHAR manufacturerID[32];
	CK_FLAGS flags;
	CK_UTF8CHAR libraryDescription[32];
	CK_VERSION libraryVersion;
};

static CK_RV C_GetInfo(struct fake_info *info)
{
	if (!st.initialized)
		return logged(CKR_CRYPTOKI_NOT_INITIALIZED, "C_GetInfo");
	if (info == NULL)
		return logged(CKR_ARGUMENTS_BAD, "C_GetInfo");
	memset(info, ' ', sizeof *info);
	info->cryptokiVersion.major = 3;
	info->cryptokiVersion.minor = 0;
	info->flags = 0;
	info->libraryVersion.major = 1;
	info->libraryVersion.minor = 0;
	return logged(CKR_OK, "C_GetInfo");
}

static CK_RV C_GetSlotList(CK_BYTE token_present, CK_SLOT_ID *list,
			   CK_ULONG *count)
{
	(void)token_present;
	if (!st.initialized)
		return logged(CKR_CRYPTOKI_NOT_INITIALIZED, "C_GetSlotList");
	if (count == NULL)
		return logged(CKR_ARGUMENTS_BAD, "C_GetSlotList");
	if (list == NULL) {
		*count = st.nslots;
		return logged(CKR_OK, "C_GetSlotList count=%lu", *count);
	}
	if (*count < st.nslots) {
		*count = st.nslots;
		return logged(CKR_BUFFER_TOO_SMALL, "C_GetSlotList count=%lu",
			      *count);
	}
	for (CK_ULONG i = 0; i < st.nslots; i++)
		list[i] = i + 1;
	*count = st.nslots;
	return logged(CKR_OK, "C_GetSlotList count=%lu", *count);
}

static CK_RV C_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app,
			   CK_NOTIFY notify, CK_SESSION_HANDLE *ph)
{
	(void)app;
	(void)notify;
	if (!st.initialized)
		return logged(CKR_CRYPTOKI_NOT_INITIALIZED,
			      "C_OpenSession slot=%lu flags=0x%lx", slot, flags);
	if (!slot_valid(slot))
		return logged(CKR_SLOT_ID_INVALID,
			      "C_OpenSession slot=%lu flags=0x%lx", slot, flags);
	if (ph == NULL || !(flags & CKF_SERIAL_SESSION))
		return logged(CKR_ARGUMENTS_BAD,
			      "C_OpenSession slot=%lu flags=0x%lx", slot, flags);
	for (int i = 0; i < FAKE_MAX_SESSIONS; i++) {
		struct fake_session *s = &st.sessions[i];
		if (s->open)
			continue;
		s->open = 1;
		/* FAKE_REUSE_HANDLES: the lowest handle not in use, from 100. */
		s->handle = env_flag("FAKE_REUSE_HANDLES") ? 100 + (CK_SESSION_HANDLE)i :
							      next_handle++;
		s->slot = slot;
		s->flags = flags;
		*ph = s->handle;
		return logged(CKR_OK,
			      "C_OpenSession slot=%lu flags=0x%lx session=%lu",
			      slot, flags, s->handle);
	}
	return logged(CKR_SESSION_COUNT, "C_OpenSession slot=%lu flags=0x%lx",
		      slot, flags);
}

static CK_RV C_CloseSession(CK_SESSION_HANDLE h)
{
	struct fake_session *s;
	CK_SLOT_ID slot;

	if (!st.initialized)
		return logged(CKR_CRYPTOKI_NOT_INITIALIZED,
			      "C_CloseSession session=%lu", h);
	s = find_session(h);
	if (s == NULL)
		return logged(CKR_SESSION_HANDLE_INVALID,
			      "C_CloseSession session=%lu", h);
	slot = s->slot;
	s->open = 0;
	return logged(CKR_OK, "C_CloseSession session=%lu slot=%lu", h, slot);
}

static CK_RV C_CloseAllSessions(CK_SLOT_ID slot)
{
	if (!st.initialized)
		return logged(CKR_CRYPTOKI_NOT_INITIALIZED,
			      "C_CloseAllSessions slot=%lu", slot);
	if (!slot_valid(slot))
		return logged(CKR_SLOT_ID_INVALID,
			      "C_CloseAllSessions slot=%lu", slot);
	for (int i = 0; i < FAKE_MAX_SESSIONS; i++)
		if (st.sessions[i].open && st.sessions[i].slot == slot)
			st.sessions[i].open = 0;
	return logged(CKR_OK, "C_CloseAllSessions slot=%lu", slot);
}

static CK_RV C_GetSessionInfo(CK_SESSION_HANDLE h, CK_SESSION_INFO *info)
{
	struct fake_session *s;
	CK_ULONG user;
	int rw;

	if (!st.initialized)
		return logged(CKR_CRYPTOKI_NOT_INITIALIZED,
			      "C_GetSessionInfo session=%lu", h);
	s = find_session(h);
	if (s == NULL)
		return logged(CKR_SESSION_HANDLE_INVALID,
			      "C_GetSessionInfo session=%lu", h);
	if (info == NULL)
		return logged(CKR_ARGUMENTS_BAD,
			      "C_GetSessionInfo session=%lu", h);
	user = st.login[s->slot];
	rw = (s->flags & CKF_RW_SESSION) != 0;
	info->slotID = s->slot;
	info->flags = s->flags;
	info->ulDeviceError = 0;
	if (user == CKU_SO)
		info->state = FAKE_CKS_RW_SO_FUNCTIONS;
	else if (user == CKU_USER)
		info->state = rw ? FAKE_CKS_RW_USER_FUNCTIONS
				 : FAKE_CKS_RO_USER_FUNCTIONS;
	else
		info->state = rw ? FAKE_CKS_RW_PUBLIC_SESSION
				 : FAKE_CKS_RO_PUBLIC_SESSION;
	return logged(CKR_OK, "C_GetSessionInfo session=%lu slot=%lu", h,
		      s->slot);
}

/* The login both C_Login and C_LoginUser do; what is logged is the
 * caller's business.  The PIN is compared, never printed. */
static CK_RV do_login(CK_SESSION_HANDLE h, CK_USER_TYPE user,
		      const CK_UTF8CHAR *pin, CK_ULONG pin_len,
		      CK_SLOT_ID *slot_out)
{
	struct fake_session *s;
	const char *want;

	*slot_out = 0;
	if (!st.initialized)
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	s = find_session(h);
	if (s == NULL)
		return CKR_SESSION_HANDLE_INVALID;
	*slot_out = s->slot;
	/* No operation needs it here, but that is for the token to say; this
	 * token accepts it and it changes no login state. */
	if (user == CKU_CONTEXT_SPECIFIC)
		return CKR_OK;
	if (user != CKU_USER && user != CKU_SO)
		return CKR_USER_TYPE_INVALID;
	if (st.login[s->slot] != FAKE_NOT_LOGGED_IN)
		return CKR_USER_ALREADY_LOGGED_IN;
	want = getenv("FAKE_PIN");
	if (want != NULL &&
	    (pin == NULL || strlen(want) != pin_len ||
	     memcmp(want, pin, pin_len) != 0))
		return CKR_PIN_INCORRECT;
	st.login[s->slot] = user;
	return CKR_OK;
}

static CK_RV C_Login(CK_SESSION_HANDLE h, CK_USER_TYPE user, CK_UTF8CHAR *pin,
		     CK_ULONG pin_len)
{
	CK_SLOT_ID slot;
	CK_RV rv = do_login(h, user, pin, pin_len, &slot);

	return logged(rv, "C_Login session=%lu slot=%lu user=%lu", h, slot,
		      user);
}

static CK_RV C_LoginUser(CK_SESSION_HANDLE h, CK_USER_TYPE user,
			 CK_UTF8CHAR *pin, CK_ULONG pin_len,
			 CK_UTF8CHAR *username, CK_ULONG username_len)
{
	CK_SLOT_ID slot;
	CK_RV rv = do_login(h, user, pin, pin_len, &slot);
	int n = username_len > 64 ? 64 : (int)username_len;

	return logged(rv, "C_LoginUser session=%lu slot=%lu user=%lu name=%.*s",
		      h, slot, user, username ? n : 0,
		      username ? (const char *)username : "");
}

static CK_RV C_Logout(CK_SESSION_HANDLE h)
{
	struct fake_session *s;

	if (!st.initialized)
		return logged(CKR_CRYPTOKI_NOT_INITIALIZED,
			      "C_Logout session=%lu", h);
	s = find_session(h);
	if (s == NULL)
		return logged(CKR_SESSION_HANDLE_INVALID,
			      "C_Logout session=%lu", h);
	if (env_flag("FAKE_LOGOUT_FAIL"))
		return logged(CKR_DEVICE_ERROR, "C_Logout session=%lu slot=%lu",
			      h, s->slot);
	if (st.login[s->slot] == FAKE_NOT_LOGGED_IN)
		return logged(CKR_USER_NOT_LOGGED_IN,
			      "C_Logout session=%lu slot=%lu", h, s->slot);
	st.login[s->slot] = FAKE_NOT_LOGGED_IN;
	return logged(CKR_OK, "C_Logout session=%lu slot=%lu", h, s->slot);
}

static CK_RV C_Login_2x(CK_SESSION_HANDLE h, CK_USER_TYPE user,
			CK_UTF8CHAR *pin, CK_ULONG pin_len)
{
	via = " list=2.x";
	CK_RV rv = C_Login(h, user, pin, pin_len);
	via = "";
	return rv;
}

static CK_RV C_Logout_2x(CK_SESSION_HANDLE h)
{
	via = " list=2.x";
	CK_RV rv = C_Logout(h);
	via = "";
	return rv;
}

static CK_RV C_CloseSession_2x(CK_SESSION_HANDLE h)
{
	via = " list=2.x";
	CK_RV rv = C_CloseSession(h);
	via = "";
	return rv;
}

static CK_RV not_supported(void)
{
	return logged(CKR_FUNCTION_NOT_SUPPORTED, "unsupported-function");
}

static void fill_lists(void);

FAKE_EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR pp)
{
	if (env_flag("FAKE_GETTER_FAIL"))
		return logged(CKR_GENERAL_ERROR, "C_GetFunctionList");
	if (pp == NULL)
		return logged(CKR_ARGUMENTS_BAD, "C_GetFunctionList");
	fill_lists();
	if (list_2 == NULL)
		return logged(CKR_HOST_MEMORY, "C_GetFunctionList");
	if (env_flag("FAKE_GETTER_NULL")) {
		*pp = NULL;
		return logged(CKR_OK, "C_GetFunctionList list=NULL");
	}
	*pp = (CK_FUNCTION_LIST_PTR)(void *)list_2;
	return logged(CKR_OK, "C_GetFunctionList");
}

FAKE_EXPORT CK_RV C_GetInterfaceList(CK_INTERFACE *list, CK_ULONG *count)
{
	const CK_ULONG n = sizeof interfaces / sizeof interfaces[0];

	if (env_flag("FAKE_GETTER_FAIL"))
		return logged(CKR_GENERAL_ERROR, "C_GetInterfaceList");
	if (count == NULL)
		return logged(CKR_ARGUMENTS_BAD, "C_GetInterfaceList");
	fill_lists();
	if (list_3_0 == NULL)
		return logged(CKR_HOST_MEMORY, "C_GetInterfaceList");
	if (list == NULL) {
		*count = n;
		return logged(CKR_OK, "C_GetInterfaceList count=%lu", n);
	}
	if (*count < n) {
		*count = n;
		return logged(CKR_BUFFER_TOO_SMALL,
			      "C_GetInterfaceList count=%lu", n);
	}
	memcpy(list, interfaces, sizeof interfaces);
	*count = n;
	return logged(CKR_OK, "C_GetInterfaceList count=%lu", n);
}

FAKE_EXPORT CK_RV C_GetInterface(CK_UTF8CHAR *name, CK_VERSION *version,
				 CK_INTERFACE **pp, CK_FLAGS flags)
{
	char vbuf[16] = "any";

	if (version != NULL)
		snprintf(vbuf, sizeof vbuf, "%u.%u", version->major,
			 version->minor);
	if (env_flag("FAKE_GETTER_FAIL"))
		return logged(CKR_GENERAL_ERROR,
			      "C_GetInterface version=%s", vbuf);
	if (pp == NULL)
		return logged(CKR_ARGUMENTS_BAD, "C_GetInterface version=%s",
			      vbuf);
	fill_lists();
	if (list_3_0 == NULL)
		return logged(CKR_HOST_MEMORY, "C_GetInterface version=%s",
			      vbuf);
	if (env_flag("FAKE_GETTER_NULL")) {
		*pp = NULL;
		return logged(CKR_OK, "C_GetInterface version=%s list=NULL",
			      vbuf);
	}
	for (size_t i = 0; i < sizeof interfaces / sizeof interfaces[0]; i++) {
		const CK_VERSION *v = interfaces[i].pFunctionList;
		if (name != NULL &&
		    strcmp((const char *)name, (const char *)interface_name))
			continue;
		if (version != NULL && (version->major != v->major ||
					version->minor != v->minor))
			continue;
		if ((interfaces[i].flags & flags) != flags)
			continue;
		*pp = &interfaces[i];
		return logged(CKR_OK, "C_GetInterface version=%s", vbuf);
	}
	return logged(CKR_ARGUMENTS_BAD, "C_GetInterface version=%s", vbuf);
}

static void fill_lists(void)
{
	if (list_2 != NULL)
		return;
	const char *iv = getenv("FAKE_IFACE_VERSION");
	unsigned major = 3, minor = 0, n3, major2, minor2;

	if (iv != NULL && sscanf(iv, "%u.%u", &major, &minor) != 2)
		major = 3, minor = 0;
	n3 = major == 3 && minor == 2 ? P11L_FN_COUNT_3_2 : P11L_FN_COUNT_3_0;
	list_2 = malloc(sizeof *list_2);
	list_3_0 = malloc(offsetof(struct fake_list_3_0, fn) + n3 * sizeof(p11l_fn));
	if (list_2 == NULL || list_3_0 == NULL) {
		free(list_2);
		free(list_3_0);
		list_2 = NULL;
		list_3_0 = NULL;
		return;
	}
	for (unsigned i = 0; i < n3; i++)
		list_3_0->fn[i] = (p11l_fn)not_supported;
	list_3_0->fn[P11L_C_Initialize] = (p11l_fn)C_Initialize;
	list_3_0->fn[P11L_C_Finalize] = (p11l_fn)C_Finalize;
	list_3_0->fn[P11L_C_GetInfo] = (p11l_fn)C_GetInfo;
	list_3_0->fn[P11L_C_GetFunctionList] = (p11l_fn)C_GetFunctionList;
	list_3_0->fn[P11L_C_GetSlotList] = (p11l_fn)C_GetSlotList;
	list_3_0->fn[P11L_C_OpenSession] = (p11l_fn)C_OpenSession;
	list_3_0->fn[P11L_C_CloseSession] = (p11l_fn)C_CloseSession;
	list_3_0->fn[P11L_C_CloseAllSessions] = (p11l_fn)C_CloseAllSessions;
	list_3_0->fn[P11L_C_GetSessionInfo] = (p11l_fn)C_GetSessionInfo;
	list_3_0->fn[P11L_C_Login] = (p11l_fn)C_Login;
	list_3_0->fn[P11L_C_Logout] = (p11l_fn)C_Logout;
	list_3_0->fn[P11L_C_GetInterfaceList] = (p11l_fn)C_GetInterfaceList;
	list_3_0->fn[P11L_C_GetInterface] = (p11l_fn)C_GetInterface;
	list_3_0->fn[P11L_C_LoginUser] = (p11l_fn)C_LoginUser;
	/* The 2.x list is the first 68 entries of the 3.0 one. */
	memcpy(list_2->fn, list_3_0->fn, sizeof list_2->fn);
	list_2->version.major = 2;
	list_2->version.minor = 40;
	iv = getenv("FAKE_LIST2_VERSION");
	if (iv != NULL && sscanf(iv, "%u.%u", &major2, &minor2) == 2) {
		list_2->version.major = (CK_BYTE)major2;
		list_2->version.minor = (CK_BYTE)minor2;
	}
	if (env_flag("FAKE_SPLIT_LISTS")) {
		list_2->fn[P11L_C_Login] = (p11l_fn)C_Login_2x;
		list_2->fn[P11L_C_Logout] = (p11l_fn)C_Logout_2x;
		list_2->fn[P11L_C_CloseSession] = (p11l_fn)C_CloseSession_2x;
	}
	list_3_0->version.major = (CK_BYTE)major;
	list_3_0->version.minor = (CK_BYTE)minor;
	/* The default interface comes first. */
	interfaces[0].pInterfaceName = interface_name;
	interfaces[0].pFunctionList = list_3_0;
	interfaces[0].flags = 0;
	interfaces[1].pInterfaceName = interface_name;
	interfaces[1].pFunctionList = list_2;
	interfaces[1].flags = 0;
}
