/* The record of one module: the sessions the program has open and the
 * slots it is logged in to, each tagged with the process that made it so
 * that a forked child never acts on its parent's logins.  Every function
 * here runs under p11l_lock and never calls into a module. */
#include "config.h"

#include <stdlib.h>
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

int p11l_record_session_add(struct p11l_module *m, CK_SESSION_HANDLE h,
			    CK_SLOT_ID slot)
{
	size_t i = 0;

	/* A handle the module reuses replaces whatever was recorded for it. */
	while (i < m->nsessions && m->sessions[i].handle != h)
		i++;
	if (i == m->nsessions) {
		if (!grow((void **)&m->sessions, &m->capsessions, m->nsessions,
			  sizeof *m->sessions))
			return 0;
		m->nsessions++;
	}
	m->sessions[i] = (struct p11l_session){
		.handle = h, .slot = slot, .pid = getpid(), .stamp = p11l_stamp(),
	};
	return 1;
}

void p11l_record_session_remove(struct p11l_module *m, CK_SESSION_HANDLE h)
{
	for (size_t i = 0; i < m->nsessions; i++) {
		if (m->sessions[i].handle == h) {
			m->sessions[i] = m->sessions[--m->nsessions];
			return;
		}
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
}

int p11l_record_session_slot(struct p11l_module *m, CK_SESSION_HANDLE h,
			     CK_SLOT_ID *slot)
{
	for (size_t i = 0; i < m->nsessions; i++) {
		if (m->sessions[i].handle == h) {
			*slot = m->sessions[i].slot;
			return 1;
		}
	}
	return 0;
}

/* A session this process has open: on SLOT, or on any slot when SLOT is
 * NULL.  Its slot goes to *FOUND_SLOT when that is not NULL. */
int p11l_record_find_session(struct p11l_module *m, const CK_SLOT_ID *slot,
			     CK_SESSION_HANDLE *h, CK_SLOT_ID *found_slot)
{
	pid_t pid = getpid();

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
	pid_t pid = getpid();

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
	pid_t pid = getpid();

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

void p11l_record_login_remove(struct p11l_module *m, CK_SLOT_ID slot,
			      unsigned long before)
{
	for (size_t i = 0; i < m->nlogins; i++) {
		if (m->logins[i].slot == slot) {
			if (m->logins[i].stamp < before)
				m->logins[i] = m->logins[--m->nlogins];
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
	for (size_t i = 0; i < m->nlogins;) {
		if (m->logins[i].stamp < before)
			m->logins[i] = m->logins[--m->nlogins];
		else
			i++;
	}
}

void p11l_record_forget_other_processes(struct p11l_module *m)
{
	pid_t pid = getpid();

	for (size_t i = 0; i < m->nsessions;) {
		if (m->sessions[i].pid != pid)
			m->sessions[i] = m->sessions[--m->nsessions];
		else
			i++;
	}
	for (size_t i = 0; i < m->nlogins;) {
		if (m->logins[i].pid != pid)
			m->logins[i] = m->logins[--m->nlogins];
		else
			i++;
	}
}

/* The login of this process that started first, over all modules. */
int p11l_record_first_login(struct p11l_module **out, CK_SLOT_ID *slot)
{
	pid_t pid = getpid();
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
	m->nreleased++;
	return 1;
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
			*r = m->released[--m->nreleased];
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
			*r = m->released[--m->nreleased];
		} else {
			i++;
		}
	}
	return sessions;
}
