/* The session record (preload/session-record.c) against a model: a plain
 * array that does the same by scanning.  Random opens, closes (of open,
 * closed and never-seen handles), reused handles, slot lookups, closes of
 * a slot's sessions and clears, with handles sequential, scattered over 64
 * bits and crowded into a few values, through growths and shrinks of the
 * stripes; then threads opening and closing at once.  A wrong index entry,
 * a lost move or a stripe lock that lets two threads in shows as a
 * difference from the model. */
#include "config.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "p11logout.h"
#include "unit-test.h"

static void getter_here(void) {}

#define MODEL_MAX 40000

static struct {
	CK_SESSION_HANDLE h;
	CK_SLOT_ID slot;
	unsigned long stamp;
} model[MODEL_MAX];
static size_t nmodel;

static uint64_t seed = 88172645463325252u;

static uint64_t next(void)
{
	seed ^= seed << 13;
	seed ^= seed >> 7;
	seed ^= seed << 17;
	return seed;
}

static size_t model_find(CK_SESSION_HANDLE h)
{
	size_t i = 0;

	while (i < nmodel && model[i].h != h)
		i++;
	return i;
}

static void model_add(CK_SESSION_HANDLE h, CK_SLOT_ID slot)
{
	size_t i = model_find(h);

	if (i == nmodel)
		nmodel++;
	model[i].h = h;
	model[i].slot = slot;
	model[i].stamp = p11l_stamp_seen();
}

static void model_remove(CK_SESSION_HANDLE h)
{
	size_t i = model_find(h);

	if (i < nmodel)
		model[i] = model[--nmodel];
}

static void model_remove_if(int all_slots, CK_SLOT_ID slot, unsigned long before)
{
	for (size_t i = 0; i < nmodel;) {
		if ((all_slots || model[i].slot == slot) && model[i].stamp < before)
			model[i] = model[--nmodel];
		else
			i++;
	}
}

/* The oldest session on SLOT (any with ANY), as the record should pick. */
static int model_oldest(int any, CK_SLOT_ID slot, CK_SESSION_HANDLE *h)
{
	int found = 0;
	unsigned long best = 0;

	for (size_t i = 0; i < nmodel; i++) {
		if (!any && model[i].slot != slot)
			continue;
		if (!found || model[i].stamp < best ||
		    (model[i].stamp == best && model[i].h < *h)) {
			found = 1;
			best = model[i].stamp;
			*h = model[i].h;
		}
	}
	return found;
}

static CK_SESSION_HANDLE pick_handle(unsigned kind, CK_SESSION_HANDLE *seq)
{
	switch (kind % 3) {
	case 0:
		return ++*seq;
	case 1:
		return (CK_SESSION_HANDLE)next();
	default:
		return next() % 64;	/* reused all the time; 0 among them */
	}
}

static int agrees(struct p11l_module *m, const char *when)
{
	size_t n = p11l_record_sessions_count(m);

	if (n != nmodel) {
		unit_check(0, "%s: %zu sessions recorded, the model has %zu", when, n, nmodel);
		return 0;
	}
	for (size_t i = 0; i < nmodel; i++) {
		CK_SLOT_ID slot = ~0UL;

		if (!p11l_record_session_slot(m, model[i].h, &slot) || slot != model[i].slot) {
			unit_check(0, "%s: session %lu: slot %lu, the model says %lu", when,
				   model[i].h, slot, model[i].slot);
			return 0;
		}
	}
	return 1;
}

static int random_run(struct p11l_module *m, unsigned kind, long ops)
{
	CK_SESSION_HANDLE seq = 1000;

	for (long op = 0; op < ops; op++) {
		unsigned r = (unsigned)(next() % 100);
		CK_SESSION_HANDLE h;
		CK_SLOT_ID slot = next() % 4;

		/* Grow to thousands, then shrink back: the stripes resize. */
		int growing = (op / (ops / 4)) % 2 == 0;

		if (r < (growing ? 60u : 25u) && nmodel < MODEL_MAX) {
			h = pick_handle(kind, &seq);
			if (!p11l_record_session_add(m, h, slot))
				return unit_check(0, "kind %u: out of memory at %zu sessions", kind, nmodel);
			model_add(h, slot);
		} else if (r < 97 && nmodel) {
			/* Mostly an open one, sometimes one never opened. */
			h = next() % 8 ? model[next() % nmodel].h : pick_handle(kind, &seq);
			p11l_record_session_remove(m, h);
			model_remove(h);
		} else if (r < 98) {
			unsigned long before = p11l_stamp();

			p11l_lock();
			p11l_record_sessions_remove_slot(m, slot, before);
			p11l_unlock();
			model_remove_if(0, slot, before);
		} else if (r < 99) {
			CK_SESSION_HANDLE got = 0, want = 0;
			CK_SLOT_ID found = 0;
			int any = next() % 2;

			p11l_lock();
			int have = p11l_record_find_session(m, any ? NULL : &slot, &got, &found);
			p11l_unlock();
			int should = model_oldest(any, slot, &want);
			if (have != should || (have && (got != want || (!any && found != slot))))
				return unit_check(0, "kind %u: oldest session%s%lu: %d/%lu, the model %d/%lu",
						  kind, any ? " (any slot) " : " on slot ", slot, have,
						  got, should, want);
		} else if (next() % 20 == 0) {
			unsigned long before = p11l_stamp();

			p11l_lock();
			p11l_record_sessions_clear(m, before);
			p11l_unlock();
			model_remove_if(1, 0, before);
		}
		if (op % 997 == 0 && !agrees(m, "during the run"))
			return 0;
	}
	return agrees(m, "at the end");
}

#define THREADS 4
#define PER_THREAD 20000

static struct p11l_module *shared;

static void *opener(void *arg)
{
	CK_SESSION_HANDLE base = (CK_SESSION_HANDLE)(uintptr_t)arg * 1000000u;
	long kept = 0;

	/* Open, close every other one at once, keep the rest. */
	for (CK_SESSION_HANDLE i = 0; i < PER_THREAD; i++) {
		if (!p11l_record_session_add(shared, base + i, (CK_SLOT_ID)(uintptr_t)arg))
			return (void *)-1L;
		if (i % 2)
			p11l_record_session_remove(shared, base + i);
		else
			kept++;
	}
	return (void *)kept;
}

int main(void)
{
	struct p11l_module *m;

	unit_hermetic("unit-sessions.conf");
	p11l_entry_points_init();
	m = p11l_module_for_getter((void *)(p11l_fn)getter_here);
	if (!unit_check(m != NULL, "a module record for this program"))
		return unit_done();

	const char *kinds[] = { "sequential", "scattered", "crowded (reused, 0 among them)" };
	for (unsigned kind = 0; kind < 3; kind++) {
		int ok = random_run(m, kind, 60000);

		unit_check(ok, "%s handles: 60000 random calls agree with the model", kinds[kind]);
		p11l_lock();
		p11l_record_sessions_clear(m, P11L_ALL_RECORDS);
		p11l_unlock();
		model_remove_if(1, 0, P11L_ALL_RECORDS);
		unit_check(p11l_record_sessions_count(m) == 0, "%s: a clear of all leaves none", kinds[kind]);
	}

	shared = m;
	pthread_t t[THREADS];
	long kept = 0;
	int started = 1;
	for (uintptr_t i = 0; i < THREADS; i++)
		started &= pthread_create(&t[i], NULL, opener, (void *)(i + 1)) == 0;
	for (int i = 0; i < THREADS; i++) {
		void *r;

		pthread_join(t[i], &r);
		kept += (long)r;
	}
	unit_check(started && kept == THREADS * PER_THREAD / 2 &&
		   p11l_record_sessions_count(m) == (size_t)kept,
		   "%d threads at once: %zu sessions recorded, %ld kept", THREADS,
		   p11l_record_sessions_count(m), kept);
	int slots_ok = 1;
	for (uintptr_t i = 1; i <= THREADS; i++)
		for (CK_SESSION_HANDLE k = 0; k < PER_THREAD; k++) {
			CK_SLOT_ID slot;
			int have = p11l_record_session_slot(m, i * 1000000u + k, &slot);

			if (have != (k % 2 == 0) || (have && slot != i))
				slots_ok = 0;
		}
	unit_check(slots_ok, "each thread's kept sessions found, on its slot; the closed ones gone");
	return unit_done();
}
