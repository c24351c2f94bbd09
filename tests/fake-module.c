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
 * at two paths; every log line starts with that name.  The token, its
 * sessions and the log are mock-common.c's; what is here is this module's
 * voice (its log lines), its knobs and its function lists. */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mock-module.h"

#ifndef FAKE_NAME
#define FAKE_NAME "fake1"
#endif

#define FAKE_MAX_SLOTS 8

const struct mock_variant mock_variant = {
	.name = FAKE_NAME,
	.log_env = "FAKE_LOG",
	.max_sessions = 64,
	.shared_token = 0,
};

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

static struct fake_list_2 *list_2;
static struct fake_list_3_0 *list_3_0;
static CK_INTERFACE interfaces[2];
static CK_UTF8CHAR interface_name[] = P11L_INTERFACE_NAME;

/* FAKE_PRELOGIN: every slot starts logged in, at each C_Initialize. */
static CK_RV C_Initialize(CK_VOID_PTR args)
{
	(void)args;
	return mock_initialize(mock_env_count("FAKE_SLOTS", FAKE_MAX_SLOTS, 1),
			       1, mock_env_flag("FAKE_PRELOGIN") ? CKU_USER
							 : MOCK_NOT_LOGGED_IN);
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
	CK_RV rv = mock_enter();

	if (rv != CKR_OK)
		return mock_logged(rv, "C_GetInfo");
	mock_unlock();
	if (info == NULL)
		return mock_logged(CKR_ARGUMENTS_BAD, "C_GetInfo");
	memset(info, ' ', sizeof *info);
	info->cryptokiVersion.major = 3;
	info->cryptokiVersion.minor = 0;
	info->flags = 0;
	info->libraryVersion.major = 1;
	info->libraryVersion.minor = 0;
	return mock_logged(CKR_OK, "C_GetInfo");
}

static CK_RV C_GetSlotList(CK_BYTE token_present, CK_SLOT_ID *list,
			   CK_ULONG *count)
{
	CK_RV rv = mock_slot_list(list, count);

	(void)token_present;
	if (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL)
		return mock_logged(rv, "C_GetSlotList");
	return mock_logged(rv, "C_GetSlotList count=%lu", *count);
}

static CK_RV C_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app,
			   CK_NOTIFY notify, CK_SESSION_HANDLE *ph)
{
	/* FAKE_REUSE_HANDLES: the lowest handle not in use, from 100. */
	CK_RV rv = mock_open_session(slot, flags,
				     mock_env_flag("FAKE_REUSE_HANDLES"), ph);

	(void)app;
	(void)notify;
	if (rv != CKR_OK)
		return mock_logged(rv, "C_OpenSession slot=%lu flags=0x%lx",
				   slot, flags);
	return mock_logged(rv, "C_OpenSession slot=%lu flags=0x%lx session=%lu",
			   slot, flags, *ph);
}

static CK_RV C_CloseSession(CK_SESSION_HANDLE h)
{
	CK_SLOT_ID slot;
	CK_RV rv = mock_close_session(h, &slot);

	if (rv != CKR_OK)
		return mock_logged(rv, "C_CloseSession session=%lu", h);
	return mock_logged(rv, "C_CloseSession session=%lu slot=%lu", h, slot);
}

static CK_RV C_CloseAllSessions(CK_SLOT_ID slot)
{
	return mock_logged(mock_close_all(slot), "C_CloseAllSessions slot=%lu",
			   slot);
}

static CK_RV C_GetSessionInfo(CK_SESSION_HANDLE h, CK_SESSION_INFO *info)
{
	CK_SLOT_ID slot;
	CK_RV rv = mock_session_info(h, info, &slot);

	if (rv != CKR_OK)
		return mock_logged(rv, "C_GetSessionInfo session=%lu", h);
	return mock_logged(rv, "C_GetSessionInfo session=%lu slot=%lu", h,
			   slot);
}

static CK_RV C_Login(CK_SESSION_HANDLE h, CK_USER_TYPE user, CK_UTF8CHAR *pin,
		     CK_ULONG pin_len)
{
	CK_SLOT_ID slot;
	CK_RV rv = mock_login(h, user, pin, pin_len, getenv("FAKE_PIN"), &slot);

	return mock_logged(rv, "C_Login session=%lu slot=%lu user=%lu", h,
			   slot, user);
}

static CK_RV C_LoginUser(CK_SESSION_HANDLE h, CK_USER_TYPE user,
			 CK_UTF8CHAR *pin, CK_ULONG pin_len,
			 CK_UTF8CHAR *username, CK_ULONG username_len)
{
	CK_SLOT_ID slot;
	CK_RV rv = mock_login(h, user, pin, pin_len, getenv("FAKE_PIN"), &slot);
	int n = username_len > 64 ? 64 : (int)username_len;

	return mock_logged(rv,
			   "C_LoginUser session=%lu slot=%lu user=%lu name=%.*s",
			   h, slot, user, username ? n : 0,
			   username ? (const char *)username : "");
}

/* FAKE_LOGOUT_FAIL, read at each call. */
static CK_RV logout_veto(CK_SLOT_ID slot)
{
	(void)slot;
	return mock_env_flag("FAKE_LOGOUT_FAIL") ? CKR_DEVICE_ERROR : CKR_OK;
}

static CK_RV C_Logout(CK_SESSION_HANDLE h)
{
	CK_SLOT_ID slot;
	CK_RV rv = mock_logout(h, logout_veto, &slot);

	if (slot == 0)
		return mock_logged(rv, "C_Logout session=%lu", h);
	return mock_logged(rv, "C_Logout session=%lu slot=%lu", h, slot);
}

static CK_RV C_Login_2x(CK_SESSION_HANDLE h, CK_USER_TYPE user,
			CK_UTF8CHAR *pin, CK_ULONG pin_len)
{
	mock_via = " list=2.x";
	CK_RV rv = C_Login(h, user, pin, pin_len);
	mock_via = "";
	return rv;
}

static CK_RV C_Logout_2x(CK_SESSION_HANDLE h)
{
	mock_via = " list=2.x";
	CK_RV rv = C_Logout(h);
	mock_via = "";
	return rv;
}

static CK_RV C_CloseSession_2x(CK_SESSION_HANDLE h)
{
	mock_via = " list=2.x";
	CK_RV rv = C_CloseSession(h);
	mock_via = "";
	return rv;
}

static CK_RV not_supported(void)
{
	return mock_logged(CKR_FUNCTION_NOT_SUPPORTED, "unsupported-function");
}

static void fill_lists(void);

/* What every getter checks first, out being where its answer goes:
 * FAKE_GETTER_FAIL (at each call), then the lists, made once. */
static CK_RV getter_ready(const void *out)
{
	if (mock_env_flag("FAKE_GETTER_FAIL"))
		return CKR_GENERAL_ERROR;
	if (out == NULL)
		return CKR_ARGUMENTS_BAD;
	fill_lists();
	return list_2 == NULL ? CKR_HOST_MEMORY : CKR_OK;
}

MOCK_EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR pp)
{
	CK_RV rv = getter_ready(pp);

	if (rv != CKR_OK)
		return mock_logged(rv, "C_GetFunctionList");
	if (mock_env_flag("FAKE_GETTER_NULL")) {
		*pp = NULL;
		return mock_logged(CKR_OK, "C_GetFunctionList list=NULL");
	}
	*pp = (CK_FUNCTION_LIST_PTR)(void *)list_2;
	return mock_logged(CKR_OK, "C_GetFunctionList");
}

MOCK_EXPORT CK_RV C_GetInterfaceList(CK_INTERFACE *list, CK_ULONG *count)
{
	const CK_ULONG n = sizeof interfaces / sizeof interfaces[0];
	CK_RV rv = getter_ready(count);

	if (rv != CKR_OK)
		return mock_logged(rv, "C_GetInterfaceList");
	if (list == NULL) {
		*count = n;
		return mock_logged(CKR_OK, "C_GetInterfaceList count=%lu", n);
	}
	if (*count < n) {
		*count = n;
		return mock_logged(CKR_BUFFER_TOO_SMALL,
				   "C_GetInterfaceList count=%lu", n);
	}
	memcpy(list, interfaces, sizeof interfaces);
	*count = n;
	return mock_logged(CKR_OK, "C_GetInterfaceList count=%lu", n);
}

MOCK_EXPORT CK_RV C_GetInterface(CK_UTF8CHAR *name, CK_VERSION *version,
				 CK_INTERFACE **pp, CK_FLAGS flags)
{
	char vbuf[16] = "any";
	CK_RV rv = getter_ready(pp);

	if (version != NULL)
		snprintf(vbuf, sizeof vbuf, "%u.%u", version->major,
			 version->minor);
	if (rv != CKR_OK)
		return mock_logged(rv, "C_GetInterface version=%s", vbuf);
	if (mock_env_flag("FAKE_GETTER_NULL")) {
		*pp = NULL;
		return mock_logged(CKR_OK, "C_GetInterface version=%s list=NULL",
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
		return mock_logged(CKR_OK, "C_GetInterface version=%s", vbuf);
	}
	return mock_logged(CKR_ARGUMENTS_BAD, "C_GetInterface version=%s", vbuf);
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
	list_3_0->fn[P11L_C_Finalize] = (p11l_fn)mock_C_Finalize;
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
	if (mock_env_flag("FAKE_SPLIT_LISTS")) {
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
