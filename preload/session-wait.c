/* P11LOGOUT_WAIT: a login or session refused because the token has no
 * session free is tried again, with jittered backoff, until one is free or
 * the time is up; then the module's last answer is returned unchanged.
 *
 * Only CKR_SESSION_COUNT is retried: it is what PKCS#11 defines for "too
 * many sessions", and what the YubiHSM 2 module returns when its 16
 * sessions are taken.  Other errors (a wrong PIN above all: retrying it
 * could lock the token) are returned at once. */
#include "config.h"

#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "p11logout.h"

#define FIRST_DELAY_MS 20
#define MAX_DELAY_MS 1000

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Small and good enough to keep processes that started together from
 * retrying together. */
static uint32_t jitter(struct p11l_wait *w)
{
	w->seed ^= w->seed << 13;
	w->seed ^= w->seed >> 17;
	w->seed ^= w->seed << 5;
	return w->seed;
}

int p11l_wait_again(struct p11l_wait *w, CK_RV rv)
{
	unsigned wait = p11l_config()->wait;
	uint64_t now, left, delay;
	struct timespec ts;

	if (rv != CKR_SESSION_COUNT || wait == 0)
		return 0;
	now = now_ms();
	if (!w->started) {
		w->started = 1;
		w->deadline = now + (uint64_t)wait * 1000u;
		w->delay = FIRST_DELAY_MS;
		w->seed = (uint32_t)getpid() * 2654435761u ^ (uint32_t)now ^ 1u;
	}
	if (now >= w->deadline)
		return 0;
	left = w->deadline - now;
	/* Between half and all of the current step. */
	delay = w->delay / 2 + jitter(w) % (w->delay / 2 + 1);
	if (delay > left)
		delay = left;
	w->delay = w->delay * 2 > MAX_DELAY_MS ? MAX_DELAY_MS : w->delay * 2;
	w->tries++;
	ts.tv_sec = (time_t)(delay / 1000);
	ts.tv_nsec = (long)(delay % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0)
		;
	return 1;
}
