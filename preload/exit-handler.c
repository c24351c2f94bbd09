/* The exit handler, and the other handlers armed at the first login.
 *
 * The exit handler is registered with on_exit() at the first recorded
 * login.  Exit handlers run last-registered-first, and OpenSSL's cleanup
 * and libp11's g_shutdown_mode handler were registered when they were
 * initialised, before any login, so this one runs before both, while the
 * module can still use libcrypto.  An ELF destructor would run after them.
 * on_exit rather than atexit: the watchdog that bounds the release ends a
 * stuck exit with the program's own status. */
#include "config.h"

#include <dlfcn.h>

#include "p11logout.h"
#include "libc-late.h"
#include "release.h"

static int armed;

static void exit_handler(int status, void *arg)
{
	(void)arg;
	/* A login made later in the exit, by a handler of the program's that
	 * runs after ours, registers this handler again: glibc runs handlers
	 * registered while it exits. */
	__atomic_store_n(&armed, 0, __ATOMIC_RELEASE);
	p11l_release("exit", P11L_RELEASE_AT_EXIT, status);
}

/* quick_exit() runs these handlers only; its status is not passed on. */
static void quick_exit_handler(void)
{
	/* As at exit: a login made by a later at_quick_exit handler of the
	 * program's registers this handler again, and glibc runs it. */
	__atomic_store_n(&armed, 0, __ATOMIC_RELEASE);
	p11l_release("quick_exit", P11L_RELEASE_BOUNDED, 0);
}

/* at_quick_exit() is __cxa_at_quick_exit@GLIBC_2.10 underneath: bound at
 * load, that one more symbol version would cost every process on the host
 * a lookup at start (BENCHMARK.md).  Looked up here, at the first login,
 * it costs only the processes that log in. */
extern void *__dso_handle;

static int register_quick_exit(void)
{
	int (*reg)(void (*)(void), void *);

	reg = (int (*)(void (*)(void), void *))p11l_fn_of(dlsym(RTLD_DEFAULT, "__cxa_at_quick_exit"));
	if (!reg)
		return -1;
	return reg(quick_exit_handler, __dso_handle);
}

void p11l_release_handlers_arm(void)
{
	int expected = 0;

	if (!__atomic_compare_exchange_n(&armed, &expected, 1, 0,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return;
	if (p11l_libc.on_exit(exit_handler, NULL) != 0) {
		p11l_warn("cannot register the exit handler; logins will not be released at exit");
		__atomic_store_n(&armed, 0, __ATOMIC_RELEASE);
		return;
	}
	if (register_quick_exit() != 0)
		p11l_log("cannot register the quick_exit handler");
	p11l_log("exit handler registered");
	p11l_signals_arm();
}
