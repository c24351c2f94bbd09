/* The watchdog of the release at exit: a thread that waits for the
 * release on the exiting thread, and when P11LOGOUT_TIMEOUT passes first,
 * ends the process with the program's own exit status.
 *
 * It touches no module state and takes no lock of ours: the exiting
 * thread may be inside the module for good.  The exiting thread flushed
 * stdio before it called the module; what a module wrote since is flushed
 * here only when no one holds the stream.  Exit handlers registered before
 * the first login (they would run after ours) do not run then: the
 * process has to end without the token. */
#include "config.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <unistd.h>

#include "p11logout.h"
#include "clock-thread.h"
#include "libc-late.h"

static sem_t wake;
static pthread_t watchdog;
static unsigned long long deadline;
static int status;
/* The release's abandon (release.c), handed in so that the watchdog
 * stays below the release that uses it. */
static int (*abandon)(void);

static void flush_if_free(FILE *f)
{
	if (p11l_libc.ftrylockfile(f) == 0) {
		p11l_libc.fflush_unlocked(f);
		p11l_libc.funlockfile(f);
	}
}

/* The watchdog's last touch of our state: a later release may reuse the
 * semaphore from then on.  1 while no watchdog is out. */
static int gone = 1;

static void *leave(void)
{
	__atomic_store_n(&gone, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *watch(void *arg)
{
	(void)arg;
	if (p11l_sem_wait_until(&wake, deadline) == 0)
		return leave();
	/* The release ended at the deadline itself: nothing to end. */
	if (!abandon())
		return leave();
	p11l_log("exit: the token did not answer within %u s; ending the process with status %d, without the logout",
		 p11l_config()->timeout, status);
	flush_if_free(*p11l_libc.stdout_p);
	flush_if_free(*p11l_libc.stderr_p);
	p11l_libc._exit(status);
	/* Not reached; through a pointer, _exit is not known not to return. */
	return NULL;
}

/* A watchdog told to stop is not waited for: it only returns, and the
 * exit that follows ends it.  Joining it cost a signing process more than
 * the rest of the release (the other core has to wake up for it), so it
 * runs detached (a joinable thread left at exit is a leak to
 * ThreadSanitizer).  Only a later release at exit (after a login made by
 * a later exit handler of the program) waits, for the previous watchdog
 * to be off the semaphore before it is set up again. */
int p11l_watchdog_start(unsigned long long when, int exit_status, int (*give_up)(void))
{
	while (!__atomic_load_n(&gone, __ATOMIC_ACQUIRE))
		p11l_pause_ms(1);
	if (p11l_libc.sem_init(&wake, 0, 0) != 0)
		return -1;
	deadline = when;
	status = exit_status;
	abandon = give_up;
	__atomic_store_n(&gone, 0, __ATOMIC_RELAXED);
	if (p11l_thread_start(&watchdog, watch, NULL) != 0) {
		__atomic_store_n(&gone, 1, __ATOMIC_RELAXED);
		return -1;
	}
	p11l_libc.pthread_detach(watchdog);
	return 0;
}

void p11l_watchdog_stop(void)
{
	p11l_libc.sem_post(&wake);
}
