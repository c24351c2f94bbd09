/* The record of one module: the slots the program is logged in to, and
 * what a release of ours ended, each tagged with the process that made it
 * so that a forked child never acts on its parent's logins; the sessions
 * are in session-record.c.  Every function here runs under p11l_lock and
 * never calls into a module. */
#include "config.h"

#include <stdlib.h>
#include <unistd.h>

#include "p11logout.h"
#include "libc-late.h"

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
	p11l_record_sessions_clear(m, before);
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

	p11l_record_sessions_forget_other_processes(m);
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
