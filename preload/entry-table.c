/* Our entry points, per entry set and wrapped call, as entry-points.c
 * made them: the lists we hand out and our getters are filled from here.
 * Kept apart from the entry points themselves, whose bodies hand out
 * those lists: what fills a list need not depend on what the list holds. */
#include "config.h"

#include "p11logout.h"

static p11l_fn (*table)[P11L_CALLS];

void p11l_entry_table_set(p11l_fn (*filled)[P11L_CALLS])
{
	__atomic_store_n(&table, filled, __ATOMIC_RELEASE);
}

int p11l_entry_table_ready(void)
{
	return __atomic_load_n(&table, __ATOMIC_ACQUIRE) != NULL;
}

p11l_fn p11l_entry(unsigned set, enum p11l_call call)
{
	return table[set][call];
}
