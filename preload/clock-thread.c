/* The clock, pauses and threads of the library (clock-thread.h). */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <time.h>

#include "clock-thread.h"
#include "libc-late.h"

unsigned long long p11l_now_ns(void)
{
	struct timespec t;

	p11l_libc.clock_gettime(CLOCK_MONOTONIC, &t);
	return (unsigned long long)t.tv_sec * 1000000000ULL + (unsigned long long)t.tv_nsec;
}

void p11l_pause_ms(unsigned ms)
{
	/* To an absolute time, so that a signal interrupting it neither cuts
	 * the pause short nor starts it over. */
	unsigned long long end = p11l_now_ns() + ms * 1000000ULL;
	struct timespec t = { (time_t)(end / 1000000000ULL), (long)(end % 1000000000ULL) };

	while (p11l_libc.clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR)
		;
}

/* Signals stay with the program's threads.  (sigprocmask sets the calling
 * thread's mask in glibc, as pthread_sigmask does, without its symbol
 * version checked in every process at start.) */
int p11l_thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	int rc;

	p11l_libc.sigfillset(&all);
	p11l_libc.sigprocmask(SIG_SETMASK, &all, &old);
	rc = p11l_libc.pthread_create(t, NULL, fn, arg);
	p11l_libc.sigprocmask(SIG_SETMASK, &old, NULL);
	return rc;
}

int p11l_sem_wait_until(sem_t *sem, unsigned long long deadline)
{
	struct timespec ts = { (time_t)(deadline / 1000000000ULL),
			       (long)(deadline % 1000000000ULL) };
	int rc;

	while ((rc = p11l_libc.sem_clockwait(sem, CLOCK_MONOTONIC, &ts)) != 0 && errno == EINTR)
		;
	return rc;
}
