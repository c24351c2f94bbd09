/* Fuzz target: a misbehaving module, driven by the input.
 *
 * The input is read as it is needed: by a program that calls the wrapped
 * entry points (getters, C_Initialize, sessions, logins, logouts, closes,
 * finalize, a release in the middle as an explicit OPENSSL_cleanup()
 * would make it), and by the module, whose every answer comes from it:
 * any CK_RV, any session handle or slot ID, interface lists whose count
 * is larger than what was written, lists of every version, with NULL
 * entries or handed back already wrapped, and calls back into the library
 * from inside a call.  Then the release, as the exit handler runs it.
 *
 * The promises checked, besides no crash and no out-of-bounds access
 * (ASan, UBSan):
 * - the release makes a bounded number of module calls: a few per record,
 *   plus what the module's own calls back add;
 * - the record does not grow without bound: once the program has
 *   finalized, initialised and finalized again (every call answered
 *   CKR_OK), nothing is left in it.
 *
 * The library's core is linked into this program; the module is part of
 * it too, and the loader's view of it (dladdr) is the harness's, so that
 * a module "unloaded" before the release can be modelled. */
#include "config.h"

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "p11logout.h"
#include "libc-late.h"
#include "release.h"
#include "fuzz-target.h"

static const uint8_t *in;
static size_t in_len, in_pos;

static unsigned byte(void)
{
	return in_pos < in_len ? in[in_pos++] : 0;
}

static CK_ULONG word(void)
{
	CK_ULONG v = 0;

	for (size_t i = 0; i < sizeof v; i++)
		v = v << 8 | byte();
	return v;
}

/* Small numbers mostly, so that handles and slots meet again. */
static CK_ULONG small_or_any(void)
{
	unsigned b = byte();

	return b < 0xf0 ? (CK_ULONG)(b & 7) : word();
}

static const CK_RV answers[] = {
	CKR_GENERAL_ERROR, CKR_FUNCTION_FAILED, CKR_ARGUMENTS_BAD,
	CKR_SLOT_ID_INVALID, CKR_DEVICE_ERROR, CKR_DEVICE_REMOVED,
	CKR_FUNCTION_NOT_SUPPORTED, CKR_PIN_INCORRECT, CKR_SESSION_CLOSED,
	CKR_SESSION_COUNT, CKR_SESSION_HANDLE_INVALID, CKR_TOKEN_NOT_PRESENT,
	CKR_USER_ALREADY_LOGGED_IN, CKR_USER_NOT_LOGGED_IN,
	CKR_USER_TYPE_INVALID, CKR_BUFFER_TOO_SMALL,
	CKR_CRYPTOKI_NOT_INITIALIZED, CKR_CRYPTOKI_ALREADY_INITIALIZED,
	CKR_HOST_MEMORY, CKR_CANT_LOCK,
};

/* Set by the harness for its own closing calls: every answer CKR_OK, no
 * call back. */
static int obliging;
static unsigned long module_calls;

static CK_RV answer(void)
{
	unsigned b = byte();

	if (obliging || b < 0x70)
		return CKR_OK;
	if (b == 0xff)
		return word();
	return answers[b % (sizeof answers / sizeof answers[0])];
}

static const p11l_function_list *current;
static void program_step(void);

/* A module calling back into the library from inside a call (a proxy, a
 * module that re-enters): one level deep, one step of the program. */
static void maybe_call_back(void)
{
	static int depth;

	module_calls++;
	if (obliging || depth || (byte() & 0xf0) != 0xc0)
		return;
	depth++;
	program_step();
	depth--;
}

/* --- the module --- */

static CK_RV m_initialize(CK_VOID_PTR a)
{
	(void)a;
	maybe_call_back();
	return answer();
}

static CK_RV m_finalize(CK_VOID_PTR r)
{
	(void)r;
	maybe_call_back();
	return answer();
}

static CK_RV m_open_session(CK_SLOT_ID s, CK_FLAGS f, CK_VOID_PTR a,
			    CK_NOTIFY n, CK_SESSION_HANDLE *h)
{
	CK_RV rv;

	(void)s, (void)f, (void)a, (void)n;
	maybe_call_back();
	rv = answer();
	/* A handle written on failure too, now and then. */
	if (h && (rv == CKR_OK || (byte() & 1)))
		*h = obliging ? 1 : small_or_any();
	return rv;
}

static CK_RV m_close_session(CK_SESSION_HANDLE h)
{
	(void)h;
	maybe_call_back();
	return answer();
}

static CK_RV m_close_all_sessions(CK_SLOT_ID s)
{
	(void)s;
	maybe_call_back();
	return answer();
}

static CK_RV m_get_session_info(CK_SESSION_HANDLE h, CK_SESSION_INFO *info)
{
	CK_RV rv;

	(void)h;
	maybe_call_back();
	rv = answer();
	if (info && (rv == CKR_OK || (byte() & 1)))
		info->slotID = small_or_any();
	return rv;
}

static CK_RV m_login(CK_SESSION_HANDLE h, CK_USER_TYPE u, CK_UTF8CHAR *p,
		     CK_ULONG l)
{
	(void)h, (void)u, (void)p, (void)l;
	maybe_call_back();
	return answer();
}

static CK_RV m_login_user(CK_SESSION_HANDLE h, CK_USER_TYPE u, CK_UTF8CHAR *p,
			  CK_ULONG l, CK_UTF8CHAR *un, CK_ULONG ul)
{
	(void)un, (void)ul;
	return m_login(h, u, p, l);
}

static CK_RV m_logout(CK_SESSION_HANDLE h)
{
	(void)h;
	maybe_call_back();
	return answer();
}

/* The same calls at other addresses: a list whose functions differ from
 * the first one's gets an entry set of its own. */
static CK_RV m2_logout(CK_SESSION_HANDLE h)
{
	return m_logout(h);
}

static CK_RV m2_close_session(CK_SESSION_HANDLE h)
{
	return m_close_session(h);
}

/* Every entry the library does not wrap; the harness never calls it. */
static void m_other(void)
{
	p11l_fuzz_fail("an entry the library does not wrap was called");
}

/* The lists, each allocated to exactly its own length, so that a read
 * past it is an ASan report. */
enum {
	L_2X,		/* 2.40 */
	L_2X_SAYS_32,	/* from C_GetFunctionList, version field 3.2 (SoftHSM2 2.7.0) */
	L_2X_GAPS,	/* 2.40 with NULL lifecycle entries */
	L_30,		/* 3.0, from an interface */
	L_32,		/* 3.2, from an interface */
	L_2X_OTHER,	/* 2.40, other functions for logout and close */
	L_UNKNOWN,	/* 4.0: passed through */
	L_PAST_TABLE,	/* 2.40: one list too many for the module */
	L_COUNT
};
static p11l_function_list *lists[L_COUNT];
/* The copies the library handed out, as a proxy hands them back. */
static const p11l_function_list *wrapped[L_COUNT];

static CK_RV m_get_function_list(CK_FUNCTION_LIST_PTR_PTR pp);
static CK_RV m_get_interface_list(CK_INTERFACE *l, CK_ULONG *c);
static CK_RV m_get_interface(CK_UTF8CHAR *n, CK_VERSION *v, CK_INTERFACE **i,
			     CK_FLAGS f);

#define SET(list, pos, func) \
	do { p11l_fn f_ = (p11l_fn)(func); (list)->fn[pos] = f_; } while (0)

static p11l_function_list *make_list(CK_BYTE major, CK_BYTE minor, unsigned len)
{
	/* Through a volatile: with the length known, gcc's -Warray-bounds
	 * takes the short allocation, which is the point, for a mistake. */
	volatile unsigned vlen = len;
	unsigned n = vlen;
	p11l_function_list *l = calloc(1, offsetof(p11l_function_list, fn) +
					  n * sizeof(p11l_fn));

	if (!l)
		abort();
	l->version.major = major;
	l->version.minor = minor;
	for (unsigned i = 0; i < n; i++)
		l->fn[i] = m_other;
	SET(l, P11L_C_Initialize, m_initialize);
	SET(l, P11L_C_Finalize, m_finalize);
	SET(l, P11L_C_GetFunctionList, m_get_function_list);
	SET(l, P11L_C_OpenSession, m_open_session);
	SET(l, P11L_C_CloseSession, m_close_session);
	SET(l, P11L_C_CloseAllSessions, m_close_all_sessions);
	SET(l, P11L_C_GetSessionInfo, m_get_session_info);
	SET(l, P11L_C_Login, m_login);
	SET(l, P11L_C_Logout, m_logout);
	if (n > P11L_FN_COUNT_2) {
		SET(l, P11L_C_GetInterfaceList, m_get_interface_list);
		SET(l, P11L_C_GetInterface, m_get_interface);
		SET(l, P11L_C_LoginUser, m_login_user);
	}
	return l;
}

static CK_UTF8CHAR name_pkcs11[] = "PKCS 11", name_vendor[] = "Vendor 1";
static CK_INTERFACE ifaces[4];

static const p11l_function_list *list_by_byte(void)
{
	unsigned b = byte();

	/* A wrapped copy back, as a proxy returns what it was given. */
	if (b & 0x80 && wrapped[b % L_COUNT])
		return wrapped[b % L_COUNT];
	return lists[b % L_COUNT];
}

static CK_RV m_get_function_list(CK_FUNCTION_LIST_PTR_PTR pp)
{
	CK_RV rv;

	maybe_call_back();
	rv = answer();
	if (pp && (rv == CKR_OK || (byte() & 1))) {
		unsigned b = byte();
		*pp = b == 0xff ? NULL : (CK_FUNCTION_LIST_PTR)list_by_byte();
	}
	return rv;
}

static void fill_interface(CK_INTERFACE *i)
{
	unsigned b = byte();

	i->pInterfaceName = b & 1 ? name_vendor : b & 2 ? NULL : name_pkcs11;
	i->pFunctionList = b & 4 ? NULL : (CK_VOID_PTR)list_by_byte();
	i->flags = b >> 4;
}

/* Writes at most as many entries as the caller has room for, but may say
 * there are more. */
static CK_RV m_get_interface_list(CK_INTERFACE *list, CK_ULONG *count)
{
	CK_ULONG room, n;
	CK_RV rv;

	maybe_call_back();
	rv = answer();
	if (!count)
		return rv;
	room = *count;
	n = byte() % 6;
	if (list)
		for (CK_ULONG i = 0; i < n && i < room; i++)
			fill_interface(&list[i]);
	*count = n;
	return rv;
}

static CK_RV m_get_interface(CK_UTF8CHAR *n, CK_VERSION *v, CK_INTERFACE **i,
			     CK_FLAGS f)
{
	CK_RV rv;

	(void)n, (void)v, (void)f;
	maybe_call_back();
	rv = answer();
	if (i && (rv == CKR_OK || (byte() & 1))) {
		unsigned b = byte();
		CK_INTERFACE *iface = &ifaces[b % 4];

		fill_interface(iface);
		*i = b == 0xff ? NULL : iface;
	}
	return rv;
}

/* --- the loader's view of the module --- */

static int unloaded;
static int (*real_dladdr)(const void *, Dl_info *);
static const void *program_base;
static const char module_path[] = "/fuzz/misbehaving-module.so";

static int fake_dladdr(const void *addr, Dl_info *info)
{
	if (!real_dladdr(addr, info))
		return 0;
	if (info->dli_fbase == program_base) {
		/* This program, where the module lives. */
		if (unloaded)
			return 0;
		info->dli_fname = module_path;
	}
	return 1;
}

/* --- the program --- */

static struct p11l_module *module;
static CK_SESSION_HANDLE handles[8];

static p11l_fn entry(const p11l_function_list *l, unsigned pos)
{
	unsigned n = l->version.major == 2 ? P11L_FN_COUNT_2 :
		     l->version.major == 3 && l->version.minor < 2 ? P11L_FN_COUNT_3_0 :
		     l->version.major == 3 ? P11L_FN_COUNT_3_2 : P11L_FN_COUNT_2;

	/* A list from C_GetFunctionList is a 2.x list whatever it says. */
	if (l == lists[L_2X_SAYS_32] || l == wrapped[L_2X_SAYS_32])
		n = P11L_FN_COUNT_2;
	return pos < n ? l->fn[pos] : NULL;
}

#define CALL(type, pos, ...) \
	do { \
		p11l_fn f_ = entry(current, pos); \
		if (f_) \
			(void)((type)f_)(__VA_ARGS__); \
	} while (0)

static CK_SESSION_HANDLE some_handle(void)
{
	unsigned b = byte();

	return b < 0xe0 ? handles[b % 8] : small_or_any();
}

static void interface_list(void)
{
	CK_ULONG room = byte() % 4, count = room;
	CK_INTERFACE *list = room ? calloc(room, sizeof *list) : NULL;

	if (room && !list)
		abort();
	if (p11l_C_GetInterfaceList(module->index, list, &count) == CKR_OK && list) {
		CK_ULONG pick = byte() % room;

		if (pick < count && p11l_is_pkcs11_interface(&list[pick]) &&
		    list[pick].pFunctionList)
			current = list[pick].pFunctionList;
	}
	free(list);
}

/* One step of the program.  Arguments are read from the input in
 * statements of their own, so that every compiler reads them in the same
 * order and a corpus file replays alike everywhere. */
static void program_step(void)
{
	const struct p11l_config *c = p11l_config();
	CK_SESSION_HANDLE h = 0;
	CK_FUNCTION_LIST_PTR l = NULL;
	CK_INTERFACE *iface = NULL;
	CK_UTF8CHAR pin[] = "1234";
	CK_ULONG a, b;

	switch (byte() % 16) {
	case 0:
		if (p11l_C_GetFunctionList(module->index, &l) == CKR_OK && l)
			current = l;
		break;
	case 1:
		a = byte() & 1;
		if (p11l_C_GetInterface(module->index, a ? name_pkcs11 : NULL,
					NULL, &iface, 0) == CKR_OK && iface &&
		    p11l_is_pkcs11_interface(iface) && iface->pFunctionList)
			current = iface->pFunctionList;
		break;
	case 2:
		interface_list();
		break;
	case 3:
		CALL(CK_C_Initialize, P11L_C_Initialize, NULL);
		break;
	case 4:
		CALL(CK_C_Finalize, P11L_C_Finalize, NULL);
		break;
	case 5:
		a = small_or_any();
		b = CKF_SERIAL_SESSION | (byte() & 1 ? CKF_RW_SESSION : 0);
		CALL(CK_C_OpenSession, P11L_C_OpenSession, a, b, NULL, NULL, &h);
		handles[byte() % 8] = h;
		break;
	case 6:
		h = some_handle();
		CALL(CK_C_CloseSession, P11L_C_CloseSession, h);
		break;
	case 7:
		a = small_or_any();
		CALL(CK_C_CloseAllSessions, P11L_C_CloseAllSessions, a);
		break;
	case 8:
	case 9:
		h = some_handle();
		a = byte() & 3;
		CALL(CK_C_Login, P11L_C_Login, h, a, pin, 4);
		break;
	case 10:
		h = some_handle();
		a = byte() & 3;
		CALL(CK_C_LoginUser, P11L_C_LoginUser, h, a, pin, 4, pin, 4);
		break;
	case 11:
	case 12:
		h = some_handle();
		CALL(CK_C_Logout, P11L_C_Logout, h);
		break;
	case 13:
		/* As before an explicit OPENSSL_cleanup(). */
		p11l_release("OPENSSL_cleanup", P11L_RELEASE_BOUNDED, 0);
		break;
	case 14:
		((struct p11l_config *)c)->mode = (enum p11l_mode)(byte() % 3);
		break;
	case 15:
		current = list_by_byte();
		break;
	}
}

static size_t records(void)
{
	return p11l_record_sessions_count(module) + module->nlogins;
}

static void setup(void)
{
	static int done;
	static const char *const vars[] = {
		"P11LOGOUT_DEBUG", "P11LOGOUT_WAIT", "P11LOGOUT_MODE", "P11LOGOUT_LOG",
		"P11LOGOUT_MODULES", "P11LOGOUT_MODULE", "P11LOGOUT_SIGNALS",
	};
	union { p11l_fn f; void *p; } getter = { .f = (p11l_fn)m_get_function_list };

	if (done)
		return;
	done = 1;
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
		unsetenv(vars[i]);
	/* To read what an input does: the library's own debug lines. */
	if (getenv("P11L_FUZZ_DEBUG"))
		setenv("P11LOGOUT_DEBUG", "1", 1);
	/* No bound: the release runs on this thread, and its length is
	 * what is checked. */
	setenv("P11LOGOUT_TIMEOUT", "0", 1);
	setenv("P11LOGOUT_CONFIG", "/nonexistent/p11l-fuzz.conf", 1);
	if (p11l_libc_missing())
		abort();
	real_dladdr = p11l_libc.dladdr;
	p11l_libc.dladdr = fake_dladdr;
	{
		Dl_info info;

		if (!real_dladdr(getter.p, &info))
			abort();
		program_base = info.dli_fbase;
	}

	lists[L_2X] = make_list(2, 40, P11L_FN_COUNT_2);
	lists[L_2X_SAYS_32] = make_list(3, 2, P11L_FN_COUNT_2);
	lists[L_2X_GAPS] = make_list(2, 40, P11L_FN_COUNT_2);
	lists[L_2X_GAPS]->fn[P11L_C_Logout] = NULL;
	lists[L_2X_GAPS]->fn[P11L_C_CloseSession] = NULL;
	lists[L_2X_GAPS]->fn[P11L_C_CloseAllSessions] = NULL;
	lists[L_2X_GAPS]->fn[P11L_C_GetSessionInfo] = NULL;
	lists[L_30] = make_list(3, 0, P11L_FN_COUNT_3_0);
	lists[L_32] = make_list(3, 2, P11L_FN_COUNT_3_2);
	lists[L_2X_OTHER] = make_list(2, 40, P11L_FN_COUNT_2);
	SET(lists[L_2X_OTHER], P11L_C_Logout, m2_logout);
	SET(lists[L_2X_OTHER], P11L_C_CloseSession, m2_close_session);
	lists[L_UNKNOWN] = make_list(4, 0, P11L_FN_COUNT_2);
	lists[L_PAST_TABLE] = make_list(2, 40, P11L_FN_COUNT_2);

	p11l_entry_points_init();
	module = p11l_module_for_getter(getter.p);
	if (!module)
		abort();
	p11l_set_real_getter(module, P11L_GETTER_FUNCTION_LIST, getter.p);
	/* Wrapped once, in this order, so that which list has which entry
	 * set never depends on the inputs before. */
	for (unsigned i = 0; i < L_COUNT; i++)
		wrapped[i] = p11l_wrap_list(module, lists[i], i == L_2X_SAYS_32);
	if (!wrapped[L_2X] || wrapped[L_UNKNOWN] || wrapped[L_PAST_TABLE])
		p11l_fuzz_fail("the lists were not wrapped as the harness expects");
}

/* The program's last word, every call answered CKR_OK: after it nothing
 * may be left of what this input did. */
static void wind_up(void)
{
	const p11l_function_list *l = wrapped[L_2X];

	obliging = 1;
	((CK_C_Finalize)l->fn[P11L_C_Finalize])(NULL);
	((CK_C_Initialize)l->fn[P11L_C_Initialize])(NULL);
	((CK_C_Finalize)l->fn[P11L_C_Finalize])(NULL);
	obliging = 0;
	if (records() || module->nreleased || module->finalized_by_release)
		p11l_fuzz_fail("left after finalize, initialize, finalize: %zu sessions, %zu logins, %zu released",
			       p11l_record_sessions_count(module), module->nlogins, module->nreleased);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t before, used;
	unsigned long calls;

	setup();
	in = data;
	in_len = size;
	in_pos = 0;
	current = wrapped[L_2X];
	memset(handles, 0, sizeof handles);
	((struct p11l_config *)p11l_config())->mode = P11L_MODE_LOGOUT;

	/* The program: the first half of the steps its input allows. */
	for (unsigned steps = byte(); steps-- && in_pos < in_len;)
		program_step();

	/* The exit: perhaps with the module unloaded. */
	unloaded = (byte() & 0x0f) == 0x0f;
	before = records();
	calls = module_calls;
	used = in_pos;
	p11l_release("exit", P11L_RELEASE_BOUNDED, 0);
	unloaded = 0;
	calls = module_calls - calls;
	used = in_pos - used;
	/* Each record: at most an open, a logout and a close; a call back
	 * adds a step, which adds at most a record. */
	if (calls > 3 * (before + 1) + 6 * used)
		p11l_fuzz_fail("the release made %lu module calls for %zu records and %zu bytes",
			       calls, before, used);

	/* What the program does after, as in an exit handler of its own. */
	while (in_pos < in_len)
		program_step();
	wind_up();
	return 0;
}
