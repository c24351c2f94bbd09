/* One counter orders everything the record keeps: the stamps of records
 * (session-record.c's and struct p11l_login's) and the order logins
 * started in (the order of struct p11l_login).  Alone in its file, below
 * every part of the record that reads it. */
#include "config.h"

#include "p11logout.h"

/* From 2, so that p11l_stamp_seen is never 0. */
unsigned long p11l_stamp_counter = 2;

unsigned long p11l_stamp(void)
{
	return __atomic_fetch_add(&p11l_stamp_counter, 1, __ATOMIC_SEQ_CST);
}
