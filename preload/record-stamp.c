/* One counter orders everything the record keeps: the stamps of records
 * (session-record.c's and struct p11l_login's) and the order logins
 * started in (the order of struct p11l_login).  Alone in its file, below
 * every part of the record that reads it. */
#include "config.h"

#include "p11logout.h"

/* From 2, so that p11l_stamp_seen is never 0, an empty session entry's
 * stamp. */
static unsigned long stamp_counter = 2;

unsigned long p11l_stamp(void)
{
	return __atomic_fetch_add(&stamp_counter, 1, __ATOMIC_SEQ_CST);
}

/* A stamp below the counter without moving it, for the records made at
 * every C_OpenSession: a remover's p11l_stamp() taken after this read is
 * above it, one taken before is not, which is all the stamp rule asks;
 * and the threads opening sessions do not all write one cache line. */
unsigned long p11l_stamp_seen(void)
{
	return __atomic_load_n(&stamp_counter, __ATOMIC_SEQ_CST) - 1;
}
