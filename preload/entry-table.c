/* Entry points of their own for each wrapped module.
 *
 * A PKCS#11 call carries no argument that says which module it is for, so
 * every wrapped module needs distinct functions.  Without libffi to make
 * closures at run time, the table is generated here at compile time: one
 * set of small functions per table slot, each passing its slot number on.
 * Past P11L_MAX_MODULES a module is left unwrapped (module-table.c). */
#include "config.h"

#include <pthread.h>

#include "p11logout.h"

#define P11L_ENTRY_FUNCTIONS(i) \
static CK_RV gfl_##i(CK_FUNCTION_LIST_PTR_PTR pp) \
{ return p11l_get_function_list(i, pp); } \
static CK_RV gil_##i(CK_INTERFACE *l, CK_ULONG *c) \
{ return p11l_get_interface_list(i, l, c); } \
static CK_RV gi_##i(CK_UTF8CHAR *n, CK_VERSION *v, CK_INTERFACE **pi, CK_FLAGS f) \
{ return p11l_get_interface(i, n, v, pi, f); } \
static CK_RV ini_##i(CK_VOID_PTR a) \
{ return p11l_initialize(i, a); } \
static CK_RV fin_##i(CK_VOID_PTR r) \
{ return p11l_finalize(i, r); } \
static CK_RV os_##i(CK_SLOT_ID s, CK_FLAGS f, CK_VOID_PTR a, CK_NOTIFY n, CK_SESSION_HANDLE *h) \
{ return p11l_open_session(i, s, f, a, n, h); } \
static CK_RV cs_##i(CK_SESSION_HANDLE h) \
{ return p11l_close_session(i, h); } \
static CK_RV cas_##i(CK_SLOT_ID s) \
{ return p11l_close_all_sessions(i, s); } \
static CK_RV li_##i(CK_SESSION_HANDLE h, CK_USER_TYPE u, CK_UTF8CHAR *p, CK_ULONG pl) \
{ return p11l_login(i, h, u, p, pl); } \
static CK_RV liu_##i(CK_SESSION_HANDLE h, CK_USER_TYPE u, CK_UTF8CHAR *p, CK_ULONG pl, \
		     CK_UTF8CHAR *un, CK_ULONG ul) \
{ return p11l_login_user(i, h, u, p, pl, un, ul); } \
static CK_RV lo_##i(CK_SESSION_HANDLE h) \
{ return p11l_logout(i, h); }

/* Filled by code at the first module, not by an initialiser: a table of
 * 352 function pointers in data would cost every process on the host that
 * many relocations at load time, PKCS#11 or not. */
#define P11L_ENTRY_ROW(i) \
	p11l_entry_table[i] = (struct p11l_entries){ gfl_##i, gil_##i, gi_##i, \
		ini_##i, fin_##i, os_##i, cs_##i, cas_##i, li_##i, liu_##i, lo_##i };

#define P11L_FOR_EACH_SLOT(X) \
	X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) \
	X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15) \
	X(16) X(17) X(18) X(19) X(20) X(21) X(22) X(23) \
	X(24) X(25) X(26) X(27) X(28) X(29) X(30) X(31)

P11L_FOR_EACH_SLOT(P11L_ENTRY_FUNCTIONS)

struct p11l_entries p11l_entry_table[P11L_MAX_MODULES];

static void fill(void)
{
	P11L_FOR_EACH_SLOT(P11L_ENTRY_ROW)
}

void p11l_entry_table_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, fill);
}

#define P11L_COUNT_SLOT(i) + 1
enum { slots_generated = 0 P11L_FOR_EACH_SLOT(P11L_COUNT_SLOT) };
_Static_assert(slots_generated == P11L_MAX_MODULES,
	       "P11L_FOR_EACH_SLOT must generate one row per module slot");
