/* The sessions of one module the program has open, by handle.
 *
 * Every C_OpenSession and C_CloseSession of the program passes here, from
 * as many threads as it has: a signing service or a session pool holds
 * thousands of sessions and opens and closes more all the time.  So the
 * sessions are split into stripes by a hash of the handle, each under a
 * lock of its own, so that two threads meet on a lock only when their
 * handles fall in one stripe; and in each the sessions are a dense array
 * found by handle through a small index, so that a call costs the same
 * with any number of sessions held.  Neither lock nor table is the
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
#define FIRST_SIZE 16

/* One session.  Which process opened it is told by its stamp: one taken
 * before this process was forked (p11l_forked_at) is the parent's. */
struct p11l_session {
	CK_SESSION_HANDLE handle;
	CK_SLOT_ID slot;
	unsigned long stamp;
};

/* An index entry: the session's position + 1 (0: empty) and the low bits
 * of its handle's hash.  Two words: the index of ten thousand sessions
 * fits a core's cache, and the hash tells both the entry's home (for
 * deletion) and, nearly always, that a handle is not this one, without
 * reading the session. */
struct index_entry {
	uint32_t pos1;
	uint32_t hash;
};

struct p11l_session_stripe {
	int lock;
	uint32_t mask;			/* of the index; 0: no index yet */
	struct index_entry *index;	/* at most half full */
	struct p11l_session *sessions;
	size_t n, cap;
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
 * stripe, the low 32 the place in it. */
static uint64_t scatter(CK_SESSION_HANDLE h)
{
	uint64_t x = (uint64_t)h * 0x9e3779b97f4a7c15u;

	return x ^ (x >> 29);
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

static struct p11l_session_stripe *stripe_of(struct p11l_module *m, uint64_t x)
{
	return stripe_at(m, (unsigned)(x >> (64 - STRIPE_BITS)));
}

/* Field by field: clang at -O0 makes a copy of the whole struct a memcpy
 * call, one more glibc symbol version in every process
 * (tests/exports.sh). */
static void copy_session(struct p11l_session *to, const struct p11l_session *from)
{
	to->handle = from->handle;
	to->slot = from->slot;
	to->stamp = from->stamp;
}

/* A stripe is held for a few dozen instructions, never across a call into
 * a module or the C library, except its own allocations: a mutex's unlock,
 * an atomic exchange, and its futex calls once threads outnumber cores
 * cost more than the rest of the record.  A waiter spins a little, then
 * gives its processor away (the holder was preempted), then sleeps, so
 * that a holder of lower priority under a real-time policy still runs. */
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

/* The index entry of handle H (hash X), or the empty one where it would
 * go.  The index is never full (see room_for_one). */
static struct index_entry *find(const struct p11l_session_stripe *s,
				CK_SESSION_HANDLE h, uint32_t x)
{
	for (uint32_t i = x & s->mask;; i = (i + 1) & s->mask) {
		struct index_entry *e = &s->index[i];

		if (!e->pos1 || (e->hash == x && s->sessions[e->pos1 - 1].handle == h))
			return e;
	}
}

/* The entry that points at position POS, of a session with hash X. */
static struct index_entry *find_pos(const struct p11l_session_stripe *s,
				    size_t pos, uint32_t x)
{
	for (uint32_t i = x & s->mask;; i = (i + 1) & s->mask)
		if (s->index[i].pos1 == pos + 1)
			return &s->index[i];
}

/* Every session entered in the index, which must be empty. */
static void index_fill(struct p11l_session_stripe *s)
{
	for (size_t i = 0; i < s->n; i++) {
		uint32_t x = (uint32_t)scatter(s->sessions[i].handle);
		struct index_entry *e = find(s, s->sessions[i].handle, x);

		e->pos1 = (uint32_t)i + 1;
		e->hash = x;
	}
}

/* The index made anew at SIZE entries from the sessions; 0 when out of
 * memory (the index stays as it was). */
static int reindex(struct p11l_session_stripe *s, uint32_t size)
{
	struct index_entry *t = calloc(size, sizeof *t);

	if (!t)
		return 0;
	free(s->index);
	s->index = t;
	s->mask = size - 1;
	index_fill(s);
	return 1;
}

/* Room for one more session: the array grown, the index at most half
 * full.  Out of memory for a larger index, the old one fills on to one
 * entry short of full, which still ends every probe; the positions fit
 * its 32 bits. */
static int room_for_one(struct p11l_session_stripe *s)
{
	uint32_t size = s->index ? s->mask + 1 : 0;

	if (s->n >= UINT32_MAX / 4)
		return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : FIRST_SIZE / 2;
		struct p11l_session *p = p11l_libc.realloc(s->sessions, cap * sizeof *p);

		if (!p)
			return 0;
		s->sessions = p;
		s->cap = cap;
	}
	if (!size)
		return reindex(s, FIRST_SIZE);
	if (2 * (s->n + 1) <= size)
		return 1;
	return reindex(s, 2 * size) || s->n + 2 <= size;
}

/* Empties index entry E, moving back the entries after it that would no
 * longer be found (deletion without tombstones), by their hashes alone. */
static void index_delete(struct p11l_session_stripe *s, struct index_entry *e)
{
	uint32_t mask = s->mask, i = (uint32_t)(e - s->index), j = i;

	s->index[i].pos1 = 0;
	for (;;) {
		uint32_t k;

		j = (j + 1) & mask;
		if (!s->index[j].pos1)
			return;
		k = s->index[j].hash & mask;
		if (i <= j ? (k <= i || k > j) : (k <= i && k > j)) {
			s->index[i] = s->index[j];
			s->index[j].pos1 = 0;
			i = j;
		}
	}
}

/* Session POS, whose index entry is already emptied, leaves the array:
 * the last one takes its place. */
static void take_last(struct p11l_session_stripe *s, size_t pos)
{
	size_t last = --s->n;

	if (pos != last) {
		const struct p11l_session *l = &s->sessions[last];

		find_pos(s, last, (uint32_t)scatter(l->handle))->pos1 = (uint32_t)pos + 1;
		copy_session(&s->sessions[pos], l);
	}
}

/* An index far larger than what it holds, after a pool shrank, is made
 * smaller, and so is the array. */
static void shrink(struct p11l_session_stripe *s)
{
	uint32_t size = s->mask + 1;

	reindex(s, size / 4 < FIRST_SIZE ? FIRST_SIZE : size / 4);
	if (s->cap > FIRST_SIZE && 4 * s->n < s->cap) {
		struct p11l_session *p = p11l_libc.realloc(s->sessions, s->cap / 2 * sizeof *p);

		if (p) {
			s->sessions = p;
			s->cap /= 2;
		}
	}
}

/* Asked at every close: inline. */
static inline void shrink_if_sparse(struct p11l_session_stripe *s)
{
	if (s->index && s->mask + 1 > FIRST_SIZE && 8 * s->n < (size_t)s->mask + 1)
		shrink(s);
}

int p11l_record_session_add(struct p11l_module *m, CK_SESSION_HANDLE h,
			    CK_SLOT_ID slot)
{
	uint64_t x = scatter(h);
	struct p11l_session_stripe *s = stripe_of(m, x);
	struct index_entry *e = NULL;
	size_t pos;
	int ok = 1;

	stripe_lock(s);
	/* A handle the module reuses replaces whatever was recorded for it. */
	if (s->index)
		e = find(s, h, (uint32_t)x);
	if (e && e->pos1) {
		pos = e->pos1 - 1;
	} else {
		ok = room_for_one(s);
		if (ok) {
			e = find(s, h, (uint32_t)x);
			pos = s->n++;
			e->pos1 = (uint32_t)pos + 1;
			e->hash = (uint32_t)x;
		}
	}
	if (ok) {
		s->sessions[pos].handle = h;
		s->sessions[pos].slot = slot;
		s->sessions[pos].stamp = p11l_stamp_seen();
	}
	stripe_unlock(s);
	return ok;
}

/* Under the stripe's lock. */
static void remove_entry(struct p11l_session_stripe *s, struct index_entry *e)
{
	size_t pos = e->pos1 - 1;

	index_delete(s, e);
	take_last(s, pos);
}

void p11l_record_session_remove(struct p11l_module *m, CK_SESSION_HANDLE h)
{
	uint64_t x = scatter(h);
	struct p11l_session_stripe *s = stripe_of(m, x);

	stripe_lock(s);
	if (s->index) {
		struct index_entry *e = find(s, h, (uint32_t)x);

		if (e->pos1) {
			remove_entry(s, e);
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
	if (s->index) {
		struct index_entry *e = find(s, h, (uint32_t)x);

		if (e->pos1) {
			*slot = s->sessions[e->pos1 - 1].slot;
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

/* Removes what matches: the array compacted, then the index emptied and
 * filled again in place (it is no fuller than before). */
static void remove_if(struct p11l_module *m, enum match how, CK_SLOT_ID slot,
		      unsigned long before)
{
	unsigned long forked_at = p11l_forked_at();

	for (unsigned k = 0; k < STRIPES; k++) {
		struct p11l_session_stripe *s = stripe_at(m, k);
		size_t kept = 0;

		stripe_lock(s);
		for (size_t i = 0; i < s->n; i++) {
			const struct p11l_session *e = &s->sessions[i];

			if (matches(e, how, slot, before, forked_at))
				continue;
			copy_session(&s->sessions[kept++], e);
		}
		if (kept != s->n) {
			s->n = kept;
			for (uint32_t i = 0; i <= s->mask; i++)
				s->index[i].pos1 = 0;
			index_fill(s);
			shrink_if_sparse(s);
		}
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
		for (size_t i = 0; i < s->n; i++) {
			const struct p11l_session *e = &s->sessions[i];

			if (e->stamp < forked_at || (slot && e->slot != *slot))
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
