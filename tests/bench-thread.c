/* The floor of the watchdog's cost (make bench): preloaded after the
 * library, it starts at exit, with BENCH_THREAD=1, a thread such as the
 * watchdog is, of the program's own: every signal blocked, detached,
 * waiting on a semaphore with a deadline 5 s on, and posted at once.
 *
 * The library registers its exit handler with on_exit at the first login
 * and finds on_exit in the global scope, so this one is found first: it
 * registers its own handler just before the library's, which then runs
 * right after the library's release, where the watchdog is posted.  Run
 * with P11LOGOUT_TIMEOUT=0 (no watchdog), what it adds is what one such
 * thread costs that process at that point.  Without BENCH_THREAD it only
 * forwards, so that both sides of a comparison preload it. */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int on_exit_fn(void (*)(int, void *), void *);

static sem_t wake;

static void *wait_posted(void *arg)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += 5;
	while (sem_clockwait(&wake, CLOCK_MONOTONIC, &t) != 0 && errno == EINTR)
		;
	return arg;
}

static void thread_at_exit(int status, void *arg)
{
	sigset_t all, old;
	pthread_t t;
	int rc;

	(void)status;
	(void)arg;
	if (sem_init(&wake, 0, 0) != 0)
		return;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&t, NULL, wait_posted, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc == 0) {
		pthread_detach(t);
		sem_post(&wake);
	}
}

int on_exit(void (*fn)(int, void *), void *arg)
{
	static on_exit_fn *real;
	static int armed;
	const char *on = getenv("BENCH_THREAD");

	if (!real) {
		void *sym = dlsym(RTLD_NEXT, "on_exit");

		/* Through memcpy: ISO C has no cast from void * to a function. */
		memcpy(&real, &sym, sizeof real);
		if (!real)
			return -1;
	}
	if (!armed && on && *on == '1') {
		armed = 1;
		real(thread_at_exit, NULL);
	}
	return real(fn, arg);
}
