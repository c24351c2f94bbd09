/* The exit handler: logs out every slot this process is still logged in
 * to, then closes the sessions it left open there.
 *
 * It is registered with atexit() at the first recorded login.  Exit
 * handlers run last-registered-first, and OpenSSL's cleanup and libp11's
 * g_shutdown_mode handler were registered when they were initialised,
 * before any login, so this one runs before both, while the module can
 * still use libcrypto.  An ELF destructor would run after them.
 *
 * A token that stops answering must not hold the process at exit: the
 * release runs in a thread of its own, and the handler waits for it at
 * most P11LOGOUT_TIMEOUT seconds. */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "p11logout.h"

static int armed;

/* What the running release is for ("exit", "OPENSSL_cleanup"): the prefix
 * of its log lines.  Set before each release (no initialiser: a pointer in
 * data would cost every process a relocation). */
static const char *release_why;

/* The thread that runs a release of ours, while it runs.  (Temporary: the
 * release mechanism is being reworked; it keeps this name and meaning.)
 * Not thread-local storage: that would cost the library a relocation. */
static pthread_t releaser;
static int releasing;

int p11l_in_release(void)
{
	return __atomic_load_n(&releasing, __ATOMIC_ACQUIRE) &&
	       pthread_equal(__atomic_load_n(&releaser, __ATOMIC_RELAXED),
			     pthread_self());
}

static void log_call(struct p11l_module *m, CK_SLOT_ID slot, const char *what,
		     CK_SESSION_HANDLE h, CK_RV rv)
{
	char b[32];

	p11l_log("%s: %s: slot %lu: %s(session %lu) -> %s", release_why, m->path, slot,
		 what, h, p11l_ckr_name(rv, b));
}

/* A module the program dlclose()d without C_Finalize may be unmapped:
 * calling it would jump into nothing.  Ask the loader whether the module's
 * own C_Logout still lies in the same object at the same address. */
static int module_still_loaded(struct p11l_module *m)
{
	p11l_fn probe = p11l_real(p11l_release_set(m), P11L_CALL_C_Logout);
	Dl_info info;
	void *addr;

	if (!probe)
		return 0;
	memcpy(&addr, &probe, sizeof addr);
	return dladdr(addr, &info) && info.dli_fbase == m->base &&
	       info.dli_fname && strcmp(info.dli_fname, m->path) == 0;
}

/* Closes this process's sessions on the module (on *ONLY, when given).
 * Through our own wrapped entry, so the record follows, and an inner
 * module of a proxy chain is closed by forwarding. */
static void close_sessions(struct p11l_module *m, const CK_SLOT_ID *only)
{
	unsigned set = p11l_release_set(m);
	CK_SESSION_HANDLE h;
	CK_SLOT_ID slot;
	int have;

	for (;;) {
		p11l_lock();
		have = p11l_record_find_session(m, only, &h, &slot);
		p11l_unlock();
		if (!have)
			break;
		CK_RV rv = p11l_C_CloseSession(set, h);
		log_call(m, slot, "C_CloseSession", h, rv);
		p11l_lock();
		p11l_record_session_remove(m, h);
		p11l_unlock();
	}
}

/* Calls go through our own wrapped entries, so the record follows them;
 * for the outer module of a proxy chain the module forwards to the inner
 * module's wrapped entries, which clears the inner record too and keeps a
 * second logout from reaching the real module. */
static void release_slot(struct p11l_module *m, CK_SLOT_ID slot)
{
	unsigned set = p11l_release_set(m);
	CK_SESSION_HANDLE h;
	CK_RV rv;
	int have;

	if (!module_still_loaded(m)) {
		if (!p11l_real(p11l_release_set(m), P11L_CALL_C_Logout))
			p11l_log("%s: %s: slot %lu: the module's list has no C_Logout; nothing to call",
				 release_why, m->path, slot);
		else
			p11l_log("%s: %s: slot %lu: module is no longer loaded; nothing to call",
				 release_why, m->path, slot);
		p11l_lock();
		p11l_record_clear(m, P11L_ALL_RECORDS);
		p11l_unlock();
		return;
	}

	p11l_lock();
	have = p11l_record_find_session(m, &slot, &h, NULL);
	p11l_unlock();

	if (!have) {
		rv = p11l_C_OpenSession(set, slot, CKF_SERIAL_SESSION, NULL, NULL, &h);
		log_call(m, slot, "C_OpenSession", rv == CKR_OK ? h : 0, rv);
		if (rv != CKR_OK) {
			p11l_lock();
			p11l_record_login_remove(m, slot, P11L_ALL_RECORDS);
			p11l_unlock();
			return;
		}
	}

	rv = p11l_C_Logout(set, h);
	log_call(m, slot, "C_Logout", h, rv);
	/* Whatever the module answered, this slot is done: a logout that
	 * fails now would fail again. */
	p11l_lock();
	p11l_record_login_remove(m, slot, P11L_ALL_RECORDS);
	p11l_unlock();

	close_sessions(m, &slot);
}

/* Mode close: every session the program left open on a wrapped module,
 * logged in or not (a Utimaco-style server counts those too).  Modules in
 * the order they were first seen, so an outer module of a proxy chain
 * closes the inner module's sessions by forwarding. */
static void close_left_open(void)
{
	unsigned n = p11l_module_count();

	for (unsigned i = 0; i < n; i++) {
		struct p11l_module *m = p11l_module_at(i);
		CK_SESSION_HANDLE h;
		int have;

		p11l_lock();
		have = p11l_record_find_session(m, NULL, &h, NULL);
		p11l_unlock();
		if (!have)
			continue;
		if (!module_still_loaded(m)) {
			p11l_lock();
			p11l_record_clear(m, P11L_ALL_RECORDS);
			p11l_unlock();
			continue;
		}
		close_sessions(m, NULL);
	}
}

/* Mode finalize: C_Finalize each module this process logged in to and
 * still has initialised, outer modules first; an inner module a proxy
 * already finalized by forwarding is not finalized twice. */
static void finalize_logged_in(void)
{
	unsigned n = p11l_module_count();
	pid_t pid = getpid();

	for (unsigned i = 0; i < n; i++) {
		struct p11l_module *m = p11l_module_at(i);

		if (__atomic_load_n(&m->login_pid, __ATOMIC_ACQUIRE) != pid ||
		    __atomic_load_n(&m->init_pid, __ATOMIC_ACQUIRE) != pid ||
		    !module_still_loaded(m))
			continue;
		CK_RV rv = p11l_C_Finalize(p11l_release_set(m), NULL);
		char b[32];
		p11l_log("%s: %s: C_Finalize -> %s", release_why, m->path, p11l_ckr_name(rv, b));
	}
}

static void release_all(void)
{
	enum p11l_mode mode = p11l_config()->mode;
	struct p11l_module *m;
	CK_SLOT_ID slot;

	__atomic_store_n(&releaser, pthread_self(), __ATOMIC_RELAXED);
	__atomic_store_n(&releasing, 1, __ATOMIC_RELEASE);

	for (;;) {
		p11l_lock();
		int found = p11l_record_first_login(&m, &slot);
		p11l_unlock();
		if (!found)
			break;
		release_slot(m, slot);
	}
	if (mode >= P11L_MODE_CLOSE)
		close_left_open();
	if (mode >= P11L_MODE_FINALIZE)
		finalize_logged_in();
	__atomic_store_n(&releasing, 0, __ATOMIC_RELEASE);
}

/* A semaphore rather than a condition variable: it is set up only when
 * needed, and it spares every process that loads the library one more
 * symbol version to check at start-up. */
static sem_t release_done;

static void *release_thread(void *arg)
{
	(void)arg;
	release_all();
	sem_post(&release_done);
	return NULL;
}

/* Whether there is anything to release: a login, or in mode close or
 * finalize also a session left open. */
static int has_work(void)
{
	struct p11l_module *m;
	CK_SESSION_HANDLE h;
	CK_SLOT_ID slot;
	unsigned n = p11l_module_count();

	p11l_lock();
	int found = p11l_record_first_login(&m, &slot);
	for (unsigned i = 0; !found && p11l_config()->mode >= P11L_MODE_CLOSE && i < n; i++)
		found = p11l_record_find_session(p11l_module_at(i), NULL, &h, NULL);
	p11l_unlock();
	return found;
}

/* Releases every login of this process, waiting at most the configured
 * bound.  Used by the exit handler and before an explicit OPENSSL_cleanup. */
void p11l_release_all_bounded(const char *why)
{
	unsigned timeout = p11l_config()->timeout;
	struct timespec deadline;
	sigset_t all, old;
	pthread_t t;
	int rc = 0;

	/* No login, no call, and no thread. */
	if (!has_work())
		return;
	p11l_log("%s: releasing logins (bound %u s)", why, timeout);
	release_why = why;
	if (timeout == 0) {
		release_all();
		return;
	}

	if (sem_init(&release_done, 0, 0) != 0) {
		release_all();
		return;
	}

	/* Signals stay with the program's threads, not ours.  (sigprocmask
	 * sets the calling thread's mask in glibc, as pthread_sigmask does.) */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&t, NULL, release_thread, NULL);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		p11l_log("%s: no thread for the release (%s); releasing without a bound",
			 why, strerror(rc));
		release_all();
		return;
	}

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += (time_t)timeout;
	while ((rc = sem_timedwait(&release_done, &deadline)) != 0 && errno == EINTR)
		;
	/* Done in time: wait for the thread to end, so nothing of ours runs
	 * on while OpenSSL and the module are torn down.  Stuck: let it be. */
	if (rc == 0)
		pthread_join(t, NULL);
	else
		pthread_detach(t);
	if (rc != 0)
		p11l_log("%s: the token did not answer within %u s; exiting without the logout",
			  why, timeout);
}

static void exit_handler(void)
{
	p11l_release_all_bounded("exit");
	/* A login made later in the exit, by a handler of the program's that
	 * runs after ours, registers the handler again: glibc runs handlers
	 * registered while it exits. */
	__atomic_store_n(&armed, 0, __ATOMIC_RELEASE);
}

void p11l_exit_handler_arm(void)
{
	int expected = 0;

	if (!__atomic_compare_exchange_n(&armed, &expected, 1, 0,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return;
	if (atexit(exit_handler) != 0) {
		p11l_warn("cannot register the exit handler; logins will not be released at exit");
		__atomic_store_n(&armed, 0, __ATOMIC_RELEASE);
		return;
	}
	p11l_log("exit handler registered");
}
