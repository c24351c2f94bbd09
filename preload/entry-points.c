/* Entry points of their own for each entry set (entry-table.c looks
 * them up).
 *
 * A PKCS#11 call carries no argument that says which module it is for, so
 * every wrapped list needs distinct functions.  Without libffi to make
 * closures at run time, they are generated here at compile time from the
 * table of wrapped calls (P11L_WRAPPED_CALLS): one small function per call
 * and set, passing its set number on to the call's body. */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>

#include "p11logout.h"

#define P11L_ENTRY_FUNCTION(i, name, params, args) \
static CK_RV name##_##i params \
{ return p11l_##name(i, P11L_UNPAREN args); }
#define P11L_ENTRY_FUNCTIONS(i) P11L_WRAPPED_CALLS(P11L_ENTRY_FUNCTION, i)

/* Allocated and filled by code at the first module, not by an
 * initialiser: a table of function pointers in data would cost every
 * process on the host one relocation each at load time, PKCS#11 or not,
 * and a zeroed one in .bss one more mapping.  The assignment without a
 * cast checks each entry point against the call's type. */
#define P11L_ENTRY_CELL(i, name, params, args) \
	{ CK_##name typed = name##_##i; \
	  table[i][P11L_CALL_##name] = (p11l_fn)typed; }
#define P11L_ENTRY_ROW(i) P11L_WRAPPED_CALLS(P11L_ENTRY_CELL, i)

#define P11L_FOR_EACH_SET(X) \
	X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) \
	X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15) \
	X(16) X(17) X(18) X(19) X(20) X(21) X(22) X(23) \
	X(24) X(25) X(26) X(27) X(28) X(29) X(30) X(31) \
	X(32) X(33) X(34) X(35) X(36) X(37) X(38) X(39) \
	X(40) X(41) X(42) X(43) X(44) X(45) X(46) X(47) \
	X(48) X(49) X(50) X(51) X(52) X(53) X(54) X(55) \
	X(56) X(57) X(58) X(59) X(60) X(61) X(62) X(63)

P11L_FOR_EACH_SET(P11L_ENTRY_FUNCTIONS)

static void fill(void)
{
	p11l_fn (*table)[P11L_CALLS] = calloc(P11L_MAX_ENTRY_SETS, sizeof *table);

	if (!table)
		return;
	P11L_FOR_EACH_SET(P11L_ENTRY_ROW)
	p11l_entry_table_set(table);
}

int p11l_entry_points_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, fill);
	return p11l_entry_table_ready();
}

#define P11L_COUNT_SET(i) + 1
enum { sets_generated = 0 P11L_FOR_EACH_SET(P11L_COUNT_SET) };
_Static_assert(sets_generated == P11L_MAX_ENTRY_SETS,
	       "P11L_FOR_EACH_SET must generate one row per entry set");
