/* The record of one module: the sessions the program has open and the
 * slots it is logged in to, each tagged with the process that made it so
 * that a forked child never acts on its parent's logins.  Every function
 * here runs under p11l_lock and never calls into a module.
 *
 * A signing service or a session pool keeps thousands of sessions open and
 * opens and closes more all the time: the sessions are found by handle in
 * a hash index (linear probing), so that neither call costs more with
 * every session held. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "p11logout.h"
#include "libc-late.h"

/* One counter orders everything the record keeps: the stamps of records
 * (struct p11l_session) and the order logins started in (the order of
 * struct p11l_login). */
static unsigned long stamp_counter = 1;

unsigned long p11l_stamp(void)
{
	return __atomic_fetch_add(&stamp_counter, 1, __ATOMIC_SEQ_CST);
}

static int grow(void **items, size_t *cap, size_t n, size_t size)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return 1;
	ncap = *cap ? *cap * 2 : 8;
	p = p11l_libc.realloc(*items, ncap * size);
	if (!p)
		return 0;
	*items = p;
	*cap = ncap;
	return 1;
}

/* The index: position + 1 of each session in m->sessions, 0 when empty;
 * its size a power of two at least twice the sessions' capacity, so that
 * it is never more than half full.  Without it (out of memory) the
 * sessions are scanned. */
/* Scattered (Fibonacci hashing): a hash that kept sequential handles
 * together, as most modules hand them out, would let the sessions held
 * form one run that every new handle landing in it probes to the end. */
static size_t index_home(CK_SESSION_HANDLE h, size_t mask)
{
	uint64_t x = (uint64_t)h * 0x9e3779b97f4a7c15u;

	return (size_t)(x ^ (x >> 29)) & mask;
}

static size_t *index_at(struct p11l_module *m, CK_SESSION_HANDLE h)
{
	size_t mask = m->index_mask, i = index_home(h, mask);

	for (;; i = (i + 1) & mask) {
		size_t e = m->session_index[i];

		if (!e || m->sessions[e - 1].handle == h)
			return &m->session_index[i];
	}
}

static void index_fill(struct p11l_module *m)
{
	memset(m->session_index, 0, (m->index_mask + 1) * sizeof *m->session_index);
	for (size_t i = 0; i < m->nsessions; i++)
		*index_at(m, m->sessions[i].handle) = i + 1;
}

/* Sized for m->capsessions; on failure the index is dropped. */
static void index_resize(struct p11l_module *m)
{
	size_t size = 16;
	size_t *p;

	while (size < 2 * m->capsessions)
		size *= 2;
	p = p11l_libc.realloc(m->session_index, size * sizeof *p);
	if (!p) {
		free(m->session_index);
		m->session_index = NULL;
		m->index_mask = 0;
		return;
	}
	m->session_index = p;
	m->index_mask = size - 1;
	index_fill(m);
}

/* Empties entry I, moving up the entries after it that would no longer
 * be found (deletion without tombstones). */
static void index_delete(struct p11l_module *m, size_t i)
{
	size_t mask = m->index_mask, j = i;

	m->session_index[i] = 0;
	for (;;) {
		size_t e, k;

		j = (j + 1) & mask;
		e = m->session_index[j];
		if (!e)
			return;
		k = index_home(m->sessions[e - 1].handle, mask);
		if (i <= j ? (k <= i || k > j) : (k <= i && k > j)) {
			m->session_index[i] = e;
			m->session_index[j] = 0;
			i = j;
		}
	}
}

/* Position of session H in m->sessions, or m->nsessions. */
static size_t session_pos(struct p11l_module *m, CK_SESSION_HANDLE h)
{
	size_t i = 0;

	if (m->session_index) {
		size_t e = *index_at(m, h);

		return e ? e - 1 : m->nsessions;
	}
	while (i < m->nsessions && m->sessions[i].handle != h)
		i++;
	return i;
}

/* After removing sessions in bulk. */
static void index_refresh(struct p11l_module *m)
{
	if (m->session_index)
		index_fill(m);
}

int p11l_record_session_add(struct p11l_module *m, CK_SESSION_HANDLE h,
			    CK_SLOT_ID slot)
{
	/* A handle the module reuses replaces whatever was recorded for it. */
	size_t i = session_pos(m, h), cap = m->capsessions;

	if (i == m->nsessions) {
		if (!grow((void **)&m->sessions, &m->capsessions, m->nsessions,
			  sizeof *m->sessions))
			return 0;
		if (m->capsessions != cap || !m->session_index)
			index_resize(m);
		m->nsessions++;
	}
	m->sessions[i] = (struct p11l_session){
		.handle = h, .slot = slot, .pid = p11l_self(), .stamp = p11l_stamp(),
	};
	if (m->session_index)
		*index_at(m, h) = i + 1;
	return 1;
}

void p11l_record_session_remove(struct p11l_module *m, CK_SESSION_HANDLE h)
{
	size_t i = session_pos(m, h), last;

	if (i == m->nsessions)
		return;
	last = --m->nsessions;
	if (!m->session_index) {
		m->sessions[i] = m->sessions[last];
		return;
	}
	index_delete(m, (size_t)(index_at(m, h) - m->session_index));
	if (i != last) {
		m->sessions[i] = m->sessions[last];
		*index_at(m, m->sessions[i].handle) = i + 1;
	}
}

void p11l_record_sessions_remove_slot(struct p11l_module *m, CK_SLOT_ID slot,
				      unsigned long before)
{
	for (size_t i = 0; i < m->nsessions;) {
		if (m->sessions[i].slot == slot && m->sessions[i].stamp < before)
			m->sessions[i] = m->sessions[--m->nsessions];
		else
			i++;
	}
	index_refresh(m);
}

int p11l_record_session_slot(struct p11l_module *m, CK_SESSION_HANDLE h,
			     CK_SLOT_ID *slot)
{
	size_t i = session_pos(m, h);

	if (i == m->nsessions)
		return 0;
	*slot = m->sessions[i].slot;
	return 1;
}

/* A session this process has open: on SLOT, or on any slot when SLOT is
 * NULL.  Its slot goes to *FOUND_SLOT when that is not NULL. */
int p11l_record_find_session(struct p11l_module *m, const CK_SLOT_ID *slot,
			     CK_SESSION_HANDLE *h, CK_SLOT_ID *found_slot)
{
	pid_t pid = p11l_self();

	for (size_t i = 0; i < m->nsessions; i++) {
		if (m->sessions[i].pid != pid ||
		    (slot && m->sessions[i].slot != *slot))
			continue;
		*h = m->sessions[i].handle;
		if (found_slot)
			*found_slot = m->sessions[i].slot;
		return 1;
	}
	return 0;
}

/* A login of this process, recorded before BEFORE, on a slot where this
 * process has a session open: the slot to *SLOT, the session to *H. */
int p11l_record_login_with_session(struct p11l_module *m, unsigned long before,
				   CK_SLOT_ID *slot, CK_SESSION_HANDLE *h)
{
	pid_t pid = p11l_self();

	for (size_t i = 0; i < m->nlogins; i++) {
		struct p11l_login *l = &m->logins[i];

		if (l->pid != pid || l->stamp >= before)
			continue;
		if (p11l_record_find_session(m, &l->slot, h, NULL)) {
			*slot = l->slot;
			return 1;
		}
	}
	return 0;
}

int p11l_record_login_add(struct p11l_module *m, CK_SLOT_ID slot,
			  CK_USER_TYPE user, unsigned long order)
{
	pid_t pid = p11l_self();

	for (size_t i = 0; i < m->nlogins; i++) {
		if (m->logins[i].slot == slot) {
			/* Logged in again in this process: it is ours now. */
			if (m->logins[i].pid != pid) {
				m->logins[i].pid = pid;
				m->logins[i].order = order;
			}
			m->logins[i].user = user;
			m->logins[i].stamp = p11l_stamp();
			return 1;
		}
	}
	if (!grow((void **)&m->logins, &m->caplogins, m->nlogins,
		  sizeof *m->logins))
		return 0;
	m->logins[m->nlogins].slot = slot;
	m->logins[m->nlogins].user = user;
	m->logins[m->nlogins].order = order;
	m->logins[m->nlogins].pid = pid;
	m->logins[m->nlogins].stamp = p11l_stamp();
	m->nlogins++;
	return 1;
}

/* Login I's place taken by the last one.  Field by field: clang at -O0
 * makes a copy of the whole struct a memcpy call, one more glibc symbol
 * version in every process (tests/exports.sh in the -O0 cross cells). */
static void login_take_last(struct p11l_module *m, size_t i)
{
	const struct p11l_login *last = &m->logins[--m->nlogins];
	struct p11l_login *l = &m->logins[i];

	l->slot = last->slot;
	l->user = last->user;
	l->order = last->order;
	l->pid = last->pid;
	l->stamp = last->stamp;
}

void p11l_record_login_remove(struct p11l_module *m, CK_SLOT_ID slot,
			      unsigned long before)
{
	for (size_t i = 0; i < m->nlogins; i++) {
		if (m->logins[i].slot == slot) {
			if (m->logins[i].stamp < before)
				login_take_last(m, i);
			return;
		}
	}
}

void p11l_record_clear(struct p11l_module *m, unsigned long before)
{
	for (size_t i = 0; i < m->nsessions;) {
		if (m->sessions[i].stamp < before)
			m->sessions[i] = m->sessions[--m->nsessions];
		else
			i++;
	}
	index_refresh(m);
	for (size_t i = 0; i < m->nlogins;) {
		if (m->logins[i].stamp < before)
			login_take_last(m, i);
		else
			i++;
	}
}

void p11l_record_forget_other_processes(struct p11l_module *m)
{
	pid_t pid = p11l_self();

	for (size_t i = 0; i < m->nsessions;) {
		if (m->sessions[i].pid != pid)
			m->sessions[i] = m->sessions[--m->nsessions];
		else
			i++;
	}
	index_refresh(m);
	for (size_t i = 0; i < m->nlogins;) {
		if (m->logins[i].pid != pid)
			login_take_last(m, i);
		else
			i++;
	}
}

/* The login of this process that started first, over all modules. */
int p11l_record_first_login(struct p11l_module **out, CK_SLOT_ID *slot)
{
	pid_t pid = p11l_self();
	unsigned n = p11l_module_count();
	int found = 0;
	unsigned long best = 0;

	for (unsigned i = 0; i < n; i++) {
		struct p11l_module *m = p11l_module_at(i);

		for (size_t j = 0; j < m->nlogins; j++) {
			struct p11l_login *l = &m->logins[j];

			if (l->pid != pid)
				continue;
			if (!found || l->order < best) {
				found = 1;
				best = l->order;
				*out = m;
				*slot = l->slot;
			}
		}
	}
	return found;
}

/* What a release of ours closed or logged out.  The program's own clean-up
 * of it, later, is answered without the module, as the module would have
 * answered had we not been there (calls-wrapped.c). */
int p11l_released_add(struct p11l_module *m, CK_SLOT_ID slot,
		      const CK_SESSION_HANDLE *h)
{
	if (!grow((void **)&m->released, &m->capreleased, m->nreleased,
		  sizeof *m->released))
		return 0;
	m->released[m->nreleased].slot = slot;
	m->released[m->nreleased].handle = h ? *h : 0;
	m->released[m->nreleased].is_session = h != NULL;
	__atomic_store_n(&m->nreleased, m->nreleased + 1, __ATOMIC_RELAXED);
	return 1;
}

/* Whether a release of ours ended anything of M's: read without the lock,
 * so that a program's every C_CloseSession does not take it twice.  A
 * close racing with the release that ends the same session could have
 * gone either way with the lock too. */
int p11l_released_any(struct p11l_module *m)
{
	return __atomic_load_n(&m->nreleased, __ATOMIC_RELAXED) > 0;
}

static void drop_released(struct p11l_module *m, struct p11l_released *r)
{
	size_t n = m->nreleased - 1;

	*r = m->released[n];
	__atomic_store_n(&m->nreleased, n, __ATOMIC_RELAXED);
}

/* Finds what was released: the session *H (its slot to *SLOT), or when H
 * is NULL the login on *SLOT.  TAKE: forget it too. */
int p11l_released_find(struct p11l_module *m, const CK_SESSION_HANDLE *h,
		       CK_SLOT_ID *slot, int take)
{
	for (size_t i = 0; i < m->nreleased; i++) {
		struct p11l_released *r = &m->released[i];

		if (h ? !(r->is_session && r->handle == *h) :
			(r->is_session || r->slot != *slot))
			continue;
		*slot = r->slot;
		if (take)
			drop_released(m, r);
		return 1;
	}
	return 0;
}

/* Forgets the sessions released on SLOT (all when SLOT is NULL) and, with
 * LOGIN, its login; returns how many sessions there were. */
size_t p11l_released_forget(struct p11l_module *m, const CK_SLOT_ID *slot,
			    int login)
{
	size_t sessions = 0;

	for (size_t i = 0; i < m->nreleased;) {
		struct p11l_released *r = &m->released[i];

		if ((!slot || r->slot == *slot) && (r->is_session || login)) {
			sessions += r->is_session != 0;
			drop_released(m, r);
		} else {
			i++;
		}
	}
	return sessions;
}
