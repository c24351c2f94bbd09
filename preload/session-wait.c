/* P11LOGOUT_WAIT: a login or session refused because the token has no
 * session free is tried again until one is free or the time is up; then
 * the module's last answer is returned unchanged.
 *
 * Only CKR_SESSION_COUNT is retried: it is what PKCS#11 defines for "too
 * many sessions", and what the YubiHSM 2 module returns when its 16
 * sessions are taken.  Other errors (a wrong PIN above all: retrying it
 * could lock the token) are returned at once.
 *
 * Fairness: the waiters of one host and user queue on lock files per
 * module (flock).  Only a waiter holding one of the first K, an asker,
 * asks the module again, often; the others only try a lock, and never call
 * the module.  So a freed session goes to a waiter within milliseconds,
 * however many wait, and the device is asked by K processes per host
 * instead of by every waiter (with per-process backoff, 240 waiters kept
 * freed sessions idle for up to a second and the unlucky ones backed off
 * longest).  An asker holds its lock across the module's C_Login: with
 * one asker a login that takes 500 ms (a far network HSM) let one waiter
 * in per 500 ms whatever the cap (13 x the ideal time for 256 waiters on
 * 16 sessions).  So K, the window, shared in the first lock file, grows
 * by one with each login an asker got, and shrinks by one with each it
 * was refused: it follows the sessions that come free, and refusals stay
 * about one per freed session.  The order among the waiters is whoever
 * tries a lock first, not strictly first come; with every waiter served
 * at the same pace no one starves.  Hosts sharing a device do not share
 * the locks: between them it is the askers' retry pace, as between
 * processes without a lock file (plain jittered backoff).
 *
 * Nothing here runs before the module has refused once. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "p11logout.h"
#include "clock-thread.h"
#include "libc-late.h"

/* Without the queue: every waiter backs off on its own. */
#define FIRST_DELAY_MS 20
#define MAX_DELAY_MS 1000
/* The queue's head: asks the module again soon, and at most 10 times a
 * second once the wait is long (the device may be another host's). */
#define HEAD_FIRST_DELAY_MS 4
#define HEAD_MAX_DELAY_MS 100
/* The others try the lock; a try costs one system call. */
#define LOCK_TRY_MS 10

enum { QUEUE_UNTRIED, QUEUE_WAITING, QUEUE_HEAD, QUEUE_NONE };

/* At most this many askers at once (lock files per module). */
#define P11L_ASKERS_MAX 32

/* One wait's own, allocated at its first refusal: every C_OpenSession and
 * C_Login has a struct p11l_wait on its stack, and most never wait. */
struct p11l_wait_state {
	unsigned long long start, deadline;	/* ms, p11l_now_ms */
	unsigned delay;
	unsigned seed;
	int queue, held;
	/* The asker's lock held, and its number. */
	int fd, index;
	/* fd + 1 of each asker file opened, -1 when unusable, 0 not yet. */
	int files[P11L_ASKERS_MAX];
};

/* Small and good enough to keep processes that started together from
 * retrying together. */
static uint32_t jitter(struct p11l_wait *w)
{
	w->s->seed ^= w->s->seed << 13;
	w->s->seed ^= w->s->seed >> 17;
	w->s->seed ^= w->s->seed << 5;
	return w->s->seed;
}

/* A child forked while a thread of its parent is at the head would hold
 * the parent's lock for as long as it lives: the lock is kept in
 * lock-file.c's table, whose fork handler closes the child's copy. */
static void hold(struct p11l_wait *w)
{
	w->s->held = p11l_lock_hold(w->s->fd, w->s, 0);
}

/* Asker I's lock file (lock-file.c), opened once per wait; asker 0's
 * also holds the window, the number of askers. */
static int asker_file(struct p11l_wait *w, int i)
{
	char tail[16];
	int fd;

	if (w->s->files[i])
		return w->s->files[i] > 0 ? w->s->files[i] - 1 : -1;
	tail[0] = '\0';
	if (i)
		p11l_libc.snprintf(tail, sizeof tail, "-a%d", i);
	fd = p11l_lock_file("wait", w->module ? w->module->path : NULL, tail);
	w->s->files[i] = fd >= 0 ? fd + 1 : -1;
	return fd;
}

static int window(struct p11l_wait *w)
{
	int32_t k = 0;
	int fd = asker_file(w, 0);

	if (fd < 0 || p11l_libc.pread(fd, &k, sizeof k, 0) != (ssize_t)sizeof k)
		k = 1;
	return k < 1 ? 1 : k > P11L_ASKERS_MAX ? P11L_ASKERS_MAX : k;
}

/* One more asker after a login let in, one fewer after one refused: the
 * number of askers follows the sessions that come free, shared by the
 * waiters of the host (an OFD lock on byte 0 orders the updates). */
static void window_add(struct p11l_wait *w, int delta)
{
	int fd = asker_file(w, 0);
	int32_t k;

	if (fd < 0 || p11l_range_lock(fd, F_OFD_SETLKW, F_WRLCK, 0, 1) != 0)
		return;
	k = window(w) + delta;
	k = k < 1 ? 1 : k > P11L_ASKERS_MAX ? P11L_ASKERS_MAX : k;
	if (p11l_libc.pwrite(fd, &k, sizeof k, 0) != (ssize_t)sizeof k)
		p11l_log("%s: cannot write the number of askers", w->module ? w->module->path : "?");
	p11l_range_lock(fd, F_OFD_SETLK, F_UNLCK, 0, 1);
}

static void queue_leave(struct p11l_wait *w)
{
	if (w->s->queue != QUEUE_WAITING && w->s->queue != QUEUE_HEAD)
		return;
	if (w->s->held) {
		p11l_lock_unhold(w->s, NULL, 1);	/* and with it the lock */
		w->s->files[w->s->index] = -1;
	}
	w->s->held = 0;
	for (int i = 0; i < P11L_ASKERS_MAX; i++)
		if (w->s->files[i] > 0)
			close(w->s->files[i] - 1);	/* and with it the lock */
	w->s->queue = QUEUE_NONE;
}

static int wait_done(struct p11l_wait *w, CK_RV rv)
{
	char b[32];

	if (w->s) {
		int queued = w->s->queue != QUEUE_NONE;

		queue_leave(w);
		p11l_log("%s: waited %llu ms for a free session (%s) -> %s",
			 w->module ? w->module->path : "?",
			 (unsigned long long)(p11l_now_ms() - w->s->start),
			 queued ? "queue of this host" : "backoff",
			 p11l_ckr_name(rv, b));
		free(w->s);
		w->s = NULL;
	}
	return 0;
}

/* Plain jittered backoff: between half and all of the current step. */
static int backoff(struct p11l_wait *w, uint64_t left)
{
	uint64_t delay = w->s->delay / 2 + jitter(w) % (w->s->delay / 2 + 1);
	unsigned max = w->s->queue == QUEUE_HEAD ? HEAD_MAX_DELAY_MS : MAX_DELAY_MS;

	if (delay > left)
		delay = left;
	w->s->delay = w->s->delay * 2 > max ? max : w->s->delay * 2;
	w->tries++;
	p11l_pause_ms((unsigned)delay);
	return 1;
}

int p11l_wait_after(struct p11l_wait *w, CK_RV rv)
{
	unsigned wait;
	uint64_t now;

	/* An asker's answer moves the window. */
	if (w->s && w->s->queue == QUEUE_HEAD &&
	    (rv == CKR_OK || rv == CKR_SESSION_COUNT))
		window_add(w, rv == CKR_OK ? 1 : -1);
	if (rv != CKR_SESSION_COUNT || (wait = p11l_config()->wait) == 0)
		return wait_done(w, rv);
	now = p11l_now_ms();
	if (!w->s) {
		/* Out of memory for the wait: the refusal, as without us. */
		w->s = calloc(1, sizeof *w->s);
		if (!w->s)
			return 0;
		w->s->start = now;
		w->s->deadline = now + (uint64_t)wait * 1000u;
		w->s->delay = FIRST_DELAY_MS;
		w->s->seed = (uint32_t)p11l_self() * 2654435761u ^ (uint32_t)now ^ 1u;
		w->s->queue = QUEUE_WAITING;
		if (asker_file(w, 0) < 0) {
			queue_leave(w);
			w->s->queue = QUEUE_NONE;
		}
	}
	while (w->s->queue != QUEUE_NONE) {
		int fd, i;

		if (now >= w->s->deadline)
			return wait_done(w, rv);
		if (w->s->queue == QUEUE_HEAD) {
			if (w->s->index < window(w))
				return backoff(w, w->s->deadline - now);
			/* The window shrank past us: back in line.  An asker
			 * kept waiting out there would hold a lock no one
			 * asks with, and with all of them out, none would
			 * ask again. */
			p11l_libc.flock(w->s->fd, LOCK_UN);
			if (w->s->held)
				p11l_lock_unhold(w->s, NULL, 0);
			w->s->held = 0;
			w->s->queue = QUEUE_WAITING;
		}
		i = (int)(jitter(w) % (uint32_t)window(w));
		fd = asker_file(w, i);
		if (fd >= 0 && p11l_libc.flock(fd, LOCK_EX | LOCK_NB) == 0) {
			w->s->queue = QUEUE_HEAD;
			w->s->index = i;
			w->s->fd = fd;
			hold(w);
			w->s->delay = HEAD_FIRST_DELAY_MS;
			/* The one before us got a session: more may be free. */
			w->tries++;
			return 1;
		}
		if (fd < 0 || (errno != EWOULDBLOCK && errno != EINTR)) {
			queue_leave(w);	/* no lock here: back off alone */
			break;
		}
		p11l_pause_ms(LOCK_TRY_MS / 2 + jitter(w) % (LOCK_TRY_MS + 1));
		now = p11l_now_ms();
	}
	if (now >= w->s->deadline)
		return wait_done(w, rv);
	return backoff(w, w->s->deadline - now);
}
