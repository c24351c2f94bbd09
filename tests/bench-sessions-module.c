/* The benchmark's module for the record's cost: a session is a number and
 * opening or closing one costs a few instructions whatever number are
 * open, so what bench-sessions measures is the library, not the module
 * (the mock's sessions are a small array, scanned).  Thread-safe.
 *
 * With BENCH_SESSIONS_TRACK=1 (tests/record-many.sh) it also keeps which
 * of the first TRACKED handles are open, refuses to close one that is not,
 * and says at its unload how many were left open and how many closes it
 * refused.  Test code only: never installed. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "pkcs11-types.h"

#define TRACKED (1u << 20)

static CK_SESSION_HANDLE next_handle;
static int track;
static unsigned char open_now[TRACKED];
static unsigned long refused;

static CK_RV ok_init(CK_VOID_PTR a)
{
	const char *t = getenv("BENCH_SESSIONS_TRACK");

	(void)a;
	track = t && *t == '1';
	return CKR_OK;
}

__attribute__((destructor)) static void report(void)
{
	unsigned long left = 0;

	if (!track)
		return;
	for (size_t i = 0; i < TRACKED; i++)
		left += open_now[i];
	fprintf(stderr, "bench-sessions-module: %lu left open, %lu closes refused\n",
		left, refused);
}

static CK_RV open_session(CK_SLOT_ID s, CK_FLAGS f, CK_VOID_PTR a, CK_NOTIFY n,
			  CK_SESSION_HANDLE *h)
{
	(void)s, (void)f, (void)a, (void)n;
	*h = __atomic_add_fetch(&next_handle, 1, __ATOMIC_RELAXED);
	if (track && *h < TRACKED)
		__atomic_store_n(&open_now[*h], 1, __ATOMIC_RELAXED);
	return CKR_OK;
}

static CK_RV close_session(CK_SESSION_HANDLE h)
{
	if (track && (h >= TRACKED || !__atomic_exchange_n(&open_now[h], 0, __ATOMIC_RELAXED))) {
		__atomic_add_fetch(&refused, 1, __ATOMIC_RELAXED);
		return CKR_SESSION_HANDLE_INVALID;
	}
	return CKR_OK;
}

/* The library's exit release looks for C_Logout to tell the module is
 * still loaded. */
static CK_RV logout(CK_SESSION_HANDLE h)
{
	(void)h;
	return CKR_USER_NOT_LOGGED_IN;
}

static p11l_function_list list;

#define SET(name, f) do { CK_##name g = f; p11l_fn e; \
	__builtin_memcpy(&e, &g, sizeof e); list.fn[P11L_##name] = e; } while (0)

__attribute__((visibility("default")))
CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR pp)
{
	list.version.major = 2;
	list.version.minor = 40;
	SET(C_Initialize, ok_init);
	SET(C_Finalize, ok_init);
	SET(C_GetFunctionList, C_GetFunctionList);
	SET(C_OpenSession, open_session);
	SET(C_CloseSession, close_session);
	SET(C_Logout, logout);
	*pp = &list;
	return CKR_OK;
}
