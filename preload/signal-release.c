/* P11LOGOUT_SIGNALS: the release on a termination signal (opt-in).
 *
 * At the first login, for each listed signal whose disposition is then
 * SIG_DFL, a handler is installed (a program's own handler, or SIG_IGN, is
 * never replaced; one the program installs later wins), and a helper
 * thread is started that waits on a pipe.
 *
 * The handler does only async-signal-safe things: it write(2)s the signal
 * number to the helper, then waits in poll(2) on a second pipe, at most
 * P11LOGOUT_TIMEOUT, so the interrupted thread does not go on running the
 * program.  The helper runs the release as at exit and writes back.  Then
 * the handler restores SIG_DFL and raises the signal again: the process
 * ends from that same signal, with a core dump where that is the default.
 *
 * The interrupted thread may be anywhere: holding our p11l_lock, inside
 * the module holding its lock, inside malloc.  The helper may then block;
 * the handler's wait is what bounds it, and once it gives up the state
 * (p11l_release_abandon) keeps the helper from calling the module again.
 * The handler is installed with SA_NODEFER, so a second signal during the
 * release, even on the same thread, ends the process at once. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "p11logout.h"
#include "clock-thread.h"
#include "libc-late.h"
#include "release.h"

static int request[2] = { -1, -1 }, done[2] = { -1, -1 };
static pid_t owner;
static unsigned long long bound;
static int taken;

/* Ends the process from SIG, as the default action would. */
static void die_of(int sig)
{
	struct sigaction dfl;
	sigset_t set;

	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	p11l_libc.sigemptyset(&dfl.sa_mask);
	p11l_libc.sigaction(sig, &dfl, NULL);
	p11l_libc.sigemptyset(&set);
	p11l_libc.sigaddset(&set, sig);
	/* sigprocmask: this thread's mask in glibc, as pthread_sigmask, without
	 * its symbol version (GLIBC_2.32) checked in every process at start. */
	p11l_libc.sigprocmask(SIG_UNBLOCK, &set, NULL);
	p11l_libc.raise(sig);
	p11l_libc._exit(128 + sig);
}

static void on_signal(int sig)
{
	unsigned char n = (unsigned char)sig;
	unsigned long long end = 0, now;
	struct pollfd p = { .fd = done[0], .events = POLLIN };
	int expected = 0;

	/* A forked child shares the pipes with its parent's helper; a second
	 * signal, or one during another release, ends the process at once. */
	if (getpid() != owner ||
	    !__atomic_compare_exchange_n(&taken, &expected, 1, 0,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		die_of(sig);
	if (bound)
		end = p11l_now_ns() + bound;
	while (write(request[1], &n, 1) < 0 && errno == EINTR)
		;
	for (;;) {
		int ms = -1;

		if (bound) {
			now = p11l_now_ns();
			if (now >= end)
				break;
			ms = (int)((end - now + 999999ULL) / 1000000ULL);
		}
		if (p11l_libc.poll(&p, 1, ms) > 0 || (errno != EINTR && errno != EAGAIN))
			break;
	}
	p11l_release_abandon();
	die_of(sig);
}

static void *helper(void *arg)
{
	unsigned char n;
	ssize_t r;

	(void)arg;
	while ((r = read(request[0], &n, 1)) < 0 && errno == EINTR)
		;
	if (r == 1) {
		p11l_log("signal %d: releasing logins", n);
		p11l_release("signal", P11L_RELEASE_IF_IDLE, 0);
	}
	n = 0;
	while (write(done[1], &n, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

/* pipe() and FD_CLOEXEC rather than pipe2(): pipe2's symbol version
 * (GLIBC_2.9) would be checked in every process at start.  A thread that
 * forks and execs in between could pass these on; they are made once, at
 * the first login, and only with the setting on. */
static int pipe_cloexec(int fd[2])
{
	if (p11l_libc.pipe(fd) != 0)
		return -1;
	p11l_libc.fcntl(fd[0], F_SETFD, FD_CLOEXEC);
	p11l_libc.fcntl(fd[1], F_SETFD, FD_CLOEXEC);
	return 0;
}

void p11l_signals_arm(void)
{
	unsigned long want = p11l_config()->signals;
	pthread_t t;

	if (!want)
		return;
	if (pipe_cloexec(request) != 0)
		goto fail;
	if (pipe_cloexec(done) != 0) {
		close(request[0]);
		close(request[1]);
		goto fail;
	}
	owner = getpid();
	bound = p11l_config()->timeout * 1000000000ULL;
	if (p11l_thread_start(&t, helper, NULL) != 0) {
		close(request[0]);
		close(request[1]);
		close(done[0]);
		close(done[1]);
		goto fail;
	}
	p11l_libc.pthread_detach(t);
	for (int sig = 1; sig < P11L_MAX_SIGNAL; sig++) {
		struct sigaction old, sa;

		if (!(want & (1UL << sig)) || p11l_libc.sigaction(sig, NULL, &old) != 0)
			continue;
		if ((old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL) {
			p11l_log("signal %d: the program handles it; left alone", sig);
			continue;
		}
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_signal;
		p11l_libc.sigemptyset(&sa.sa_mask);
		sa.sa_flags = SA_NODEFER;
		p11l_libc.sigaction(sig, &sa, NULL);
		p11l_log("signal %d: logins released on it", sig);
	}
	return;
fail:
	p11l_warn("cannot set up the release on signals: %s", p11l_libc.strerror(errno));
}
