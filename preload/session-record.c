/* The sessions of one module the program has open, by handle.
 *
 * Every C_OpenSession and C_CloseSession of the program passes here, from
 * as many threads as it has: a signing service or a session pool holds
 * thousands of sessions and opens and closes more all the time.  So the
 * sessions are split into stripes by a hash of the handle, each a small
 * open-addressing table under a lock of its own: a call costs the same
 * with any number of sessions held, and two threads meet on a lock only
 * when their handles fall in one stripe.  Neither lock nor table is the
 * module table's p11l_lock, which the calls that end many sessions at
 * once (and the logins) still hold around their walk over every stripe:
 * p11l_lock first, then a stripe's, never the other way. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "p11logout.h"
#include "clock-thread.h"
#include "libc-late.h"

/* A power of two; 64 stripes of 64 bytes: 4 KiB per module. */
#define STRIPE_BITS 6
#define STRIPES (1u << STRIPE_BITS)
#define FIRST_SIZE 8

/* One session.  Which process opened it is told by its stamp: one taken
 * before this process was forked (p11l_forked_at) is the parent's.  Stamp
 * 0 marks an empty entry (p11l_stamp_seen is never 0), so that a handle 0
 * a misbehaving module hands out is still recorded.  Three words: at ten
 * thousand sessions held the tables still fit a core's cache. */
struct p11l_session {
	CK_SESSION_HANDLE handle;
	CK_SLOT_ID slot;
	unsigned long stamp;
};

struct p11l_session_stripe {
	int lock;
	struct p11l_session *table;
	size_t mask;
	size_t n;
};

/* One stripe per cache line, so that threads in two stripes do not
 * share one. */
union stripe_line {
	struct p11l_session_stripe s;
	char line[64];
};

_Static_assert(sizeof(struct p11l_session_stripe) <= 64,
	       "a stripe fits one cache line");

/* Scattered (Fibonacci hashing): most modules hand out sequential handles,
 * and a hash that kept them together would let the sessions held form one
 * run that every new handle probes to its end.  The top bits choose the
 * stripe, the rest the place in it. */
static uint64_t scatter(CK_SESSION_HANDLE h)
{
	uint64_t x = (uint64_t)h * 0x9e3779b97f4a7c15u;

	return x ^ (x >> 29);
}

static struct p11l_session_stripe *stripe_of(struct p11l_module *m, uint64_t x)
{
	return &((union stripe_line *)m->stripes)[x >> (64 - STRIPE_BITS)].s;
}

int p11l_sessions_init(struct p11l_module *m)
{
	/* calloc aligns to 16 only; the stripes start on a line. */
	char *raw = calloc(STRIPES + 1, sizeof(union stripe_line));

	if (!raw)
		return 0;
	m->stripes_mem = raw;
	m->stripes = (void *)(raw + (64 - (uintptr_t)raw % 64) % 64);
	return 1;
}

static struct p11l_session_stripe *stripe_at(struct p11l_module *m, unsigned k)
{
	return &((union stripe_line *)m->stripes)[k].s;
}

/* A stripe is held for a few dozen instructions, never across a call into
 * a module or the C library: a mutex's unlock, an atomic exchange, and its
 * futex calls once threads outnumber cores cost more than the rest of the
 * record.  A waiter spins a little, then gives its processor away (the
 * holder was preempted), then sleeps, so that a holder of lower priority
 * under a real-time policy still gets to run. */
static void stripe_lock(struct p11l_session_stripe *s)
{
	unsigned tries = 0;

	while (__atomic_exchange_n(&s->lock, 1, __ATOMIC_ACQUIRE)) {
		while (__atomic_load_n(&s->lock, __ATOMIC_RELAXED)) {
			if (++tries < 128)
				p11l_cpu_relax();
			else if (tries < 256)
				p11l_libc.sched_yield();
			else
				p11l_pause_ms(1);
		}
	}
}

static void stripe_unlock(struct p11l_session_stripe *s)
{
	__atomic_store_n(&s->lock, 0, __ATOMIC_RELEASE);
}

/* Around fork() (module-table.c): a stripe another thread held would stay
 * locked in the child, and its table half changed. */
void p11l_sessions_lock_all(struct p11l_module *m)
{
	for (unsigned i = 0; i < STRIPES; i++)
		stripe_lock(stripe_at(m, i));
}

void p11l_sessions_unlock_all(struct p11l_module *m)
{
	for (unsigned i = 0; i < STRIPES; i++)
		stripe_unlock(stripe_at(m, i));
}

/* The entry for the handle X was scattered from: its own, or the empty
 * one where it would go.  The table is never full (see put). */
static struct p11l_session *place(const struct p11l_session_stripe *s,
				  CK_SESSION_HANDLE h, uint64_t x)
{
	for (size_t i = (size_t)x & s->mask;; i = (i + 1) & s->mask) {
		struct p11l_session *e = &s->table[i];

		if (!e->stamp || e->handle == h)
			return e;
	}
}

static void move_all(struct p11l_session_stripe *s, struct p11l_session *old,
		     size_t oldsize)
{
	for (size_t i = 0; i < oldsize; i++) {
		if (old[i].stamp) {
			struct p11l_session *e = place(s, old[i].handle, scatter(old[i].handle));

			e->handle = old[i].handle;
			e->slot = old[i].slot;
			e->stamp = old[i].stamp;
		}
	}
}

/* To SIZE entries; 0 when out of memory (the table stays as it was). */
static int resize(struct p11l_session_stripe *s, size_t size)
{
	struct p11l_session *old = s->table, *t = calloc(size, sizeof *t);
	size_t oldsize = old ? s->mask + 1 : 0;

	if (!t)
		return 0;
	s->table = t;
	s->mask = size - 1;
	move_all(s, old, oldsize);
	free(old);
	return 1;
}

/* Kept at most 5/8 full, so that probes stay short (four entries on
 * average for a new handle) and the table small; out of memory, it fills
 * on to one empty entry short of full, which ends every probe. */
static int room_for_one(struct p11l_session_stripe *s)
{
	size_t size = s->table ? s->mask + 1 : 0;

	if (!size)
		return resize(s, FIRST_SIZE);
	if (2 * (s->n + 1) <= size)
		return 1;
	return resize(s, 2 * size) || s->n + 2 <= size;
}

/* Empties entry I, moving back the entries after it that would no longer
 * be found (deletion without tombstones).  Only entries at I and after it
 * move, which lets a walk remove as it goes (remove_if). */
static void delete_at(struct p11l_session_stripe *s, size_t i)
{
	size_t mask = s->mask, j = i;

	s->table[i].stamp = 0;
	s->n--;
	for (;;) {
		size_t k;

		j = (j + 1) & mask;
		if (!s->table[j].stamp)
			return;
		k = (size_t)scatter(s->table[j].handle) & mask;
		if (i <= j ? (k <= i || k > j) : (k <= i && k > j)) {
			s->table[i] = s->table[j];
			s->table[j].stamp = 0;
			i = j;
		}
	}
}

/* A table far larger than what it holds, after a pool shrank, is made
 * smaller: the walks over every session cost its size. */
static void shrink_if_sparse(struct p11l_session_stripe *s)
{
	size_t size = s->mask + 1;

	if (size > FIRST_SIZE && 8 * s->n < size)
		resize(s, size / 4 < FIRST_SIZE ? FIRST_SIZE : size / 4);
}

int p11l_record_session_add(struct p11l_module *m, CK_SESSION_HANDLE h,
			    CK_SLOT_ID slot)
{
	uint64_t x = scatter(h);
	struct p11l_session_stripe *s = stripe_of(m, x);
	struct p11l_session *e;
	int ok = 1;

	stripe_lock(s);
	/* A handle the module reuses replaces whatever was recorded for it. */
	e = s->table ? place(s, h, x) : NULL;
	if (!e || !e->stamp) {
		ok = room_for_one(s);
		if (ok) {
			e = place(s, h, x);
			s->n++;
		}
	}
	if (ok) {
		e->handle = h;
		e->slot = slot;
		e->stamp = p11l_stamp_seen();
	}
	stripe_unlock(s);
	return ok;
}

void p11l_record_session_remove(struct p11l_module *m, CK_SESSION_HANDLE h)
{
	uint64_t x = scatter(h);
	struct p11l_session_stripe *s = stripe_of(m, x);

	stripe_lock(s);
	if (s->table) {
		struct p11l_session *e = place(s, h, x);

		if (e->stamp) {
			delete_at(s, (size_t)(e - s->table));
			shrink_if_sparse(s);
		}
	}
	stripe_unlock(s);
}

int p11l_record_session_slot(struct p11l_module *m, CK_SESSION_HANDLE h,
			     CK_SLOT_ID *slot)
{
	uint64_t x = scatter(h);
	struct p11l_session_stripe *s = stripe_of(m, x);
	int found = 0;

	stripe_lock(s);
	if (s->table) {
		struct p11l_session *e = place(s, h, x);

		if (e->stamp) {
			*slot = e->slot;
			found = 1;
		}
	}
	stripe_unlock(s);
	return found;
}

/* The walks below run under p11l_lock, one stripe locked at a time: a
 * session opened meanwhile in a stripe already walked is one the caller's
 * stamp (struct p11l_session) would have kept anyway. */

enum match { MATCH_SLOT_BEFORE, MATCH_BEFORE, MATCH_OTHER_PROCESS };

static int matches(const struct p11l_session *e, enum match how,
		   CK_SLOT_ID slot, unsigned long before, unsigned long forked_at)
{
	switch (how) {
	case MATCH_SLOT_BEFORE:
		return e->slot == slot && e->stamp < before;
	case MATCH_BEFORE:
		return e->stamp < before;
	case MATCH_OTHER_PROCESS:
		return e->stamp < forked_at;
	}
	return 0;
}

/* Removes what matches, walking each table once: delete_at moves only
 * entries from after I into I, so I is looked at again. */
static void remove_if(struct p11l_module *m, enum match how, CK_SLOT_ID slot,
		      unsigned long before)
{
	unsigned long forked_at = p11l_forked_at();

	for (unsigned k = 0; k < STRIPES; k++) {
		struct p11l_session_stripe *s = stripe_at(m, k);

		stripe_lock(s);
		for (size_t i = 0; s->n && i <= s->mask;) {
			if (s->table[i].stamp && matches(&s->table[i], how, slot, before, forked_at))
				delete_at(s, i);
			else
				i++;
		}
		if (s->table)
			shrink_if_sparse(s);
		stripe_unlock(s);
	}
}

void p11l_record_sessions_remove_slot(struct p11l_module *m, CK_SLOT_ID slot,
				      unsigned long before)
{
	remove_if(m, MATCH_SLOT_BEFORE, slot, before);
}

void p11l_record_sessions_clear(struct p11l_module *m, unsigned long before)
{
	remove_if(m, MATCH_BEFORE, 0, before);
}

void p11l_record_sessions_forget_other_processes(struct p11l_module *m)
{
	remove_if(m, MATCH_OTHER_PROCESS, 0, 0);
}

/* A session this process has open: on SLOT, or on any slot when SLOT is
 * NULL.  Its slot goes to *FOUND_SLOT when that is not NULL.  The oldest
 * (the lowest stamp, then the lowest handle), as the program opened them:
 * the same one whatever the stripes, for the release's log and tests. */
int p11l_record_find_session(struct p11l_module *m, const CK_SLOT_ID *slot,
			     CK_SESSION_HANDLE *h, CK_SLOT_ID *found_slot)
{
	unsigned long forked_at = p11l_forked_at();
	/* Scalars, not a struct: clang at -O0 zeroes a struct with memset,
	 * one more glibc symbol version (tests/exports.sh). */
	CK_SESSION_HANDLE best_h = 0;
	CK_SLOT_ID best_slot = 0;
	unsigned long best_stamp = 0;

	for (unsigned k = 0; k < STRIPES; k++) {
		struct p11l_session_stripe *s = stripe_at(m, k);

		stripe_lock(s);
		for (size_t i = 0; s->n && i <= s->mask; i++) {
			const struct p11l_session *e = &s->table[i];

			if (!e->stamp || e->stamp < forked_at || (slot && e->slot != *slot))
				continue;
			if (best_stamp && (e->stamp > best_stamp ||
					   (e->stamp == best_stamp && e->handle > best_h)))
				continue;
			best_h = e->handle;
			best_slot = e->slot;
			best_stamp = e->stamp;
		}
		stripe_unlock(s);
	}
	if (!best_stamp)
		return 0;
	*h = best_h;
	if (found_slot)
		*found_slot = best_slot;
	return 1;
}

/* How many sessions are recorded, of every process (the fuzz target's
 * check that the record stays bounded). */
size_t p11l_record_sessions_count(struct p11l_module *m)
{
	size_t n = 0;

	for (unsigned k = 0; k < STRIPES; k++) {
		struct p11l_session_stripe *s = stripe_at(m, k);

		stripe_lock(s);
		n += s->n;
		stripe_unlock(s);
	}
	return n;
}
