/* P11LOGOUT_MAX_SESSIONS=N: at most N logins to a module at a time from
 * the processes of this host (of one user: the files are the user's, see
 * lock-file.c), whatever the module answers for the N+1st.  A device whose
 * "full" answer is not CKR_SESSION_COUNT (CKR_DEVICE_ERROR, an AWS
 * CloudHSM's CKR_ARGUMENTS_BAD) cannot be waited for by retrying; this
 * keeps the N+1st login from reaching it at all.
 *
 * A place is an flock on one of N lock files, taken before the login
 * reaches the module and held while the login lasts: given back at the
 * program's C_Logout or C_Finalize, at our release, and by the kernel when
 * the process ends however it ends (SIGKILL, a crash), which a counter in
 * a file could not do.  The lock belongs to the open file: a forked child
 * closes its copies (lock-file.c's fork handler), so that it never keeps
 * its parent's place after the parent ended, and exec closes them
 * (O_CLOEXEC).
 *
 * With every place taken the login waits up to P11LOGOUT_WAIT seconds, in
 * line: each waiter locks one byte of the queue file at its ticket (an
 * OFD lock, dropped with the process too), and only the one with no live
 * ticket before it tries the places.  With P11LOGOUT_WAIT=0 (or the time
 * up) the login is answered CKR_SESSION_COUNT without the module.
 *
 * Nothing here runs unless the setting is on; no lock of ours is held
 * while the module is called. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "p11logout.h"
#include "clock-thread.h"
#include "libc-late.h"

/* Tickets are bytes of the queue file from here; byte 0 guards the next
 * ticket's number, stored at offset 8. */
#define TICKET_BASE 64
/* How often a waiter looks: the head for a free place, the next few for
 * their turn, the rest less often. */
#define HEAD_POLL_MS 2
#define NEAR_POLL_MS 5
#define FAR_POLL_MS 25
#define NEAR 8

static off_t ticket_offset(uint64_t t)
{
	/* A 32-bit off_t wraps the line once in a billion tickets. */
	if (sizeof(off_t) < 8)
		t &= 0x3fffffffu;
	return (off_t)(TICKET_BASE + t);
}

/* A ticket of the line, locked at its byte; -1 when the queue file does
 * not take OFD locks (then every waiter tries the places by itself). */
static int64_t ticket_take(int q)
{
	for (int tries = 0; tries < 64; tries++) {
		uint64_t t = 0;

		if (p11l_range_lock(q, F_OFD_SETLKW, F_WRLCK, 0, 1) != 0)
			return -1;
		if (p11l_libc.pread(q, &t, sizeof t, 8) != (ssize_t)sizeof t)
			t = 0;
		t++;
		if (p11l_libc.pwrite(q, &t, sizeof t, 8) != (ssize_t)sizeof t) {
			p11l_range_lock(q, F_OFD_SETLK, F_UNLCK, 0, 1);
			return -1;
		}
		p11l_range_lock(q, F_OFD_SETLK, F_UNLCK, 0, 1);
		/* Taken already: a waiter killed before it wrote the number
		 * back, or the 32-bit wrap. */
		if (p11l_range_lock(q, F_OFD_SETLK, F_WRLCK, ticket_offset(t), 1) == 0)
			return (int64_t)t;
	}
	return -1;
}

/* How soon to look again: 0 when no live ticket is before T. */
static unsigned turn_in(int q, uint64_t t)
{
	off_t at = ticket_offset(t);
	off_t near = at - TICKET_BASE > NEAR ? at - NEAR : TICKET_BASE;

	if (p11l_range_lock(q, F_OFD_GETLK, F_WRLCK, TICKET_BASE, at - TICKET_BASE) == 1)
		return 0;
	if (p11l_range_lock(q, F_OFD_GETLK, F_WRLCK, near, at - near) == 1)
		return NEAR_POLL_MS;
	return FAR_POLL_MS;
}

/* Tries every usable place once, from a start of its own so that waiters
 * do not all try place 0 first; the index of the one locked, or -1. */
static int try_places(const int *fds, unsigned n, unsigned from)
{
	for (unsigned k = 0; k < n; k++) {
		unsigned i = (from + k) % n;

		if (fds[i] >= 0 && p11l_libc.flock(fds[i], LOCK_EX | LOCK_NB) == 0)
			return (int)i;
	}
	return -1;
}

/* 1 when kept; held already (another thread's login to the same slot),
 * or no room: the login goes on, this place is not needed. */
static int keep(struct p11l_module *m, CK_SLOT_ID slot, int fd)
{
	if (p11l_lock_hold(fd, m, slot))
		return 1;
	close(fd);
	return 0;
}

CK_RV p11l_place_take(struct p11l_module *m, CK_SLOT_ID slot, int *taken)
{
	const struct p11l_config *c = p11l_config();
	unsigned n = c->max_sessions, usable = 0, from;
	int fds[P11L_MAX_PLACES], got = -1, q = -1;
	int64_t ticket = -1;
	uint64_t start, deadline;
	int waited;
	char tail[16];

	*taken = 0;
	if (!n)
		return CKR_OK;
	if (p11l_lock_held(m, slot))
		return CKR_OK;
	for (unsigned i = 0; i < n; i++) {
		p11l_libc.snprintf(tail, sizeof tail, "-%u", i);
		fds[i] = p11l_lock_file("place", m->path, tail);
		usable += fds[i] >= 0;
	}
	if (!usable) {
		p11l_warn("%s: no usable lock file for P11LOGOUT_MAX_SESSIONS; this login is not limited",
			  m->path);
		return CKR_OK;
	}
	from = (unsigned)p11l_self() % n;
	start = p11l_now_ms();
	deadline = start + (uint64_t)c->wait * 1000u;
	got = try_places(fds, n, from);
	waited = got < 0 && c->wait;
	if (waited) {
		q = p11l_lock_file("place", m->path, "-queue");
		if (q >= 0)
			ticket = ticket_take(q);
	}
	while (got < 0 && p11l_now_ms() < deadline) {
		unsigned pause = ticket < 0 ? FAR_POLL_MS : turn_in(q, (uint64_t)ticket);

		if (!pause) {
			got = try_places(fds, n, from);
			if (got >= 0)
				break;
			pause = HEAD_POLL_MS;
		}
		p11l_pause_ms((unsigned)pause);
	}
	if (q >= 0)
		close(q);	/* and with it the ticket */
	for (unsigned i = 0; i < n; i++)
		if (fds[i] >= 0 && (int)i != got)
			close(fds[i]);
	if (waited)
		p11l_log("%s: slot %lu: waited %llu ms for one of %u places%s", m->path, slot,
			 (unsigned long long)(p11l_now_ms() - start), n, got >= 0 ? "" : ": none free");
	if (got < 0) {
		if (!c->wait)
			p11l_log("%s: slot %lu: all %u places taken: CKR_SESSION_COUNT without the module",
				 m->path, slot, n);
		return CKR_SESSION_COUNT;
	}
	*taken = keep(m, slot, fds[got]);
	return CKR_OK;
}

void p11l_place_give(struct p11l_module *m, const CK_SLOT_ID *slot)
{
	if (!p11l_config()->max_sessions)
		return;
	p11l_lock_unhold(m, slot, 1);	/* and with them the places */
}
