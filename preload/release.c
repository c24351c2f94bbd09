/* The release (release.h): the state that lets one release run at a
 * time within one bound, the walk over what to release, and the two ways
 * to run it, on the calling thread or in a thread of ours waited for.
 *
 * A token that stops answering must not hold the process: the caller's
 * wait is bounded, and once it gives up, the state says so for good and
 * the release left behind makes no further call: it checks before each
 * one. */
#include "config.h"

#include <dlfcn.h>
#include <pthread.h>
#include <semaphore.h>
#include <string.h>
#include <unistd.h>

#include "p11logout.h"
#include "clock-thread.h"
#include "libc-late.h"
#include "release.h"

/* What the running release is for ("exit", "OPENSSL_cleanup"): the prefix
 * of its log lines.  Set when a release is claimed (no initialiser: a
 * pointer in data would cost every process a relocation). */
static const char *release_why;

/* The release state: IDLE, one RUNNING, or GAVE_UP for good. */
enum { IDLE, RUNNING, GAVE_UP };
static int state;
/* Time the releases have taken so far, and the start and deadline of the
 * one running; in ns of CLOCK_MONOTONIC.  64-bit atomics are not lock-free
 * everywhere (armel would need libatomic, which the library must not
 * need), so a mutex of their own guards them, together with the claim of
 * the state, so that a waiter never sees RUNNING without its deadline.  It
 * is held for a few instructions, never across a call; the signal handler
 * never takes it. */
static pthread_mutex_t times_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long long spent, run_start, run_deadline;

static unsigned long long times_read(const unsigned long long *v)
{
	unsigned long long r;

	pthread_mutex_lock(&times_lock);
	r = *v;
	pthread_mutex_unlock(&times_lock);
	return r;
}
/* The thread running the release, for p11l_in_release(). */
static pthread_t releaser;
int p11l_releasing;

static int given_up(void)
{
	return __atomic_load_n(&state, __ATOMIC_ACQUIRE) == GAVE_UP;
}

int p11l_release_given_up(void)
{
	return given_up();
}

int p11l_in_release_thread(void)
{
	pthread_t t;

	__atomic_load(&releaser, &t, __ATOMIC_ACQUIRE);
	return pthread_equal(t, p11l_libc.pthread_self());
}

/* Our own entry point of SET for a call: the release calls what the
 * program would, so the record follows each call, and an inner module of
 * a proxy chain is released by forwarding.  Found in the entry table, not
 * by name, so that nothing below the wrapped calls depends on them. */
#define OURS(set, name) ((CK_##name)p11l_entry((set), P11L_CALL_##name))

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

	if (!probe)
		return 0;
	return p11l_libc.dladdr(p11l_ptr_of(probe), &info) && info.dli_fbase == m->base &&
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
		if (!have || given_up())
			break;
		CK_RV rv = OURS(set, C_CloseSession)(h);
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

	if (given_up())
		return;
	if (!have) {
		rv = OURS(set, C_OpenSession)(slot, CKF_SERIAL_SESSION, NULL, NULL, &h);
		log_call(m, slot, "C_OpenSession", rv == CKR_OK ? h : 0, rv);
		if (rv != CKR_OK) {
			p11l_lock();
			p11l_record_login_remove(m, slot, P11L_ALL_RECORDS);
			p11l_unlock();
			return;
		}
	}

	if (given_up())
		return;
	rv = OURS(set, C_Logout)(h);
	log_call(m, slot, "C_Logout", h, rv);
	/* Whatever the module answered, this slot is done: a logout that
	 * fails now would fail again. */
	p11l_lock();
	p11l_record_login_remove(m, slot, P11L_ALL_RECORDS);
	p11l_unlock();
	/* Our own session is closed as it is not the program's: out of the
	 * record first, so that it is not kept among what the release ended
	 * (a stale handle of the program's equal to it is the module's to
	 * answer). */
	if (!have && !given_up()) {
		p11l_lock();
		p11l_record_session_remove(m, h);
		p11l_unlock();
		rv = OURS(set, C_CloseSession)(h);
		log_call(m, slot, "C_CloseSession", h, rv);
	}

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
		if (!have || given_up())
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
	pid_t pid = p11l_self();

	for (unsigned i = 0; i < n; i++) {
		struct p11l_module *m = p11l_module_at(i);

		if (__atomic_load_n(&m->login_pid, __ATOMIC_ACQUIRE) != pid ||
		    __atomic_load_n(&m->init_pid, __ATOMIC_ACQUIRE) != pid ||
		    given_up() || !module_still_loaded(m))
			continue;
		CK_RV rv = OURS(p11l_release_set(m), C_Finalize)(NULL);
		char b[32];
		p11l_log("%s: %s: C_Finalize -> %s", release_why, m->path, p11l_ckr_name(rv, b));
	}
}

static void release_all(void)
{
	enum p11l_mode mode = p11l_config()->mode;
	struct p11l_module *m;
	CK_SLOT_ID slot;

	for (;;) {
		p11l_lock();
		int found = p11l_record_first_login(&m, &slot);
		p11l_unlock();
		if (!found || given_up())
			break;
		release_slot(m, slot);
	}
	if (mode >= P11L_MODE_CLOSE)
		close_left_open();
	if (mode >= P11L_MODE_FINALIZE)
		finalize_logged_in();
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

/* Claims the one release of the process.  Returns 0 to skip: nothing to
 * do, the library gave up before, the bound is spent, or another release
 * is still running at its deadline (a later one waits only for what is
 * left of that).  *DEADLINE: 0 for no bound. */
static int begin(const char *why, int wait, unsigned long long *deadline)
{
	unsigned long long bound = p11l_config()->timeout * 1000000000ULL, now;

	for (;;) {
		int s = __atomic_load_n(&state, __ATOMIC_ACQUIRE);

		if (s == GAVE_UP) {
			p11l_log("%s: the library gave up on the token before; no call", why);
			return 0;
		}
		if (s == RUNNING) {
			/* Asked for from inside the running release (a module's
			 * call that ends in OPENSSL_cleanup or exit): waiting for
			 * it would wait for ourselves. */
			if (!wait || p11l_in_release())
				return 0;
			if (bound && p11l_now_ns() >= times_read(&run_deadline)) {
				p11l_log("%s: another release is still running; not waiting longer", why);
				return 0;
			}
			p11l_pause_ms(1);
			continue;
		}
		if (!has_work())
			return 0;
		now = p11l_now_ns();
		if (bound && times_read(&spent) >= bound) {
			p11l_log("%s: the bound of %u s is spent; no call", why, p11l_config()->timeout);
			return 0;
		}
		int idle = IDLE;
		pthread_mutex_lock(&times_lock);
		if (!__atomic_compare_exchange_n(&state, &idle, RUNNING, 0,
						 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			pthread_mutex_unlock(&times_lock);
			continue;
		}
		run_start = now;
		*deadline = bound ? now + bound - spent : 0;
		run_deadline = *deadline;
		pthread_mutex_unlock(&times_lock);
		release_why = why;
		p11l_log("%s: releasing logins (bound %u s)", why, p11l_config()->timeout);
		return 1;
	}
}

/* The release itself, on the calling thread. */
static void run(void)
{
	pthread_t self = p11l_libc.pthread_self();

	__atomic_store(&releaser, &self, __ATOMIC_RELEASE);
	__atomic_store_n(&p11l_releasing, 1, __ATOMIC_RELEASE);
	release_all();
	__atomic_store_n(&p11l_releasing, 0, __ATOMIC_RELEASE);
}

/* The release claimed by begin() is over.  Returns 0 when the
 * library gave up on it meanwhile. */
static int end(void)
{
	int running = RUNNING;
	unsigned long long now = p11l_now_ns();

	pthread_mutex_lock(&times_lock);
	spent += now - run_start;
	pthread_mutex_unlock(&times_lock);
	return __atomic_compare_exchange_n(&state, &running, IDLE, 0,
					   __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

/* Gives up on the running release, for good.  Lock-free: the signal
 * handler calls it.  Returns 0 when the release ended first. */
int p11l_release_abandon(void)
{
	int running = RUNNING;

	return __atomic_compare_exchange_n(&state, &running, GAVE_UP, 0,
					   __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

/* A semaphore rather than a condition variable: it is set up only when
 * needed, and it spares every process that loads the library one more
 * symbol version to check at start-up.  Set up once: a thread left
 * behind may still post it, and after that no release starts again. */
static sem_t release_done;
static pthread_once_t release_done_once = PTHREAD_ONCE_INIT;
static int release_done_ok;

static void release_done_init(void)
{
	release_done_ok = p11l_libc.sem_init(&release_done, 0, 0) == 0;
}

static void *release_thread(void *arg)
{
	(void)arg;
	run();
	end();
	p11l_libc.sem_post(&release_done);
	return NULL;
}

/* The claimed release, in a thread, waited for until DEADLINE. */
static void in_thread(const char *why, unsigned long long deadline)
{
	pthread_t t;
	int rc;

	pthread_once(&release_done_once, release_done_init);
	rc = release_done_ok ? p11l_thread_start(&t, release_thread, NULL) : -1;
	if (rc != 0) {
		p11l_log("%s: no thread for the release; releasing without a bound", why);
		run();
		end();
		return;
	}
	if (p11l_sem_wait_until(&release_done, deadline) == 0) {
		/* Done in time: wait for the thread to end, so nothing of ours
		 * runs on while OpenSSL and the module are torn down. */
		p11l_libc.pthread_join(t, NULL);
		return;
	}
	if (!p11l_release_abandon()) {
		/* It ended just now. */
		p11l_libc.sem_wait(&release_done);
		p11l_libc.pthread_join(t, NULL);
		return;
	}
	p11l_libc.pthread_detach(t);
	p11l_log("%s: the token did not answer within %u s; going on without the logout, and no further call",
		 why, p11l_config()->timeout);
}

/* At exit: on the exiting thread, the watchdog bounding it.  The
 * watchdog is given the abandon to call, not our name for it: it stays
 * below the release. */
static void at_exit(const char *why, unsigned long long deadline, int status)
{
	if (p11l_watchdog_start(deadline, status, p11l_release_abandon) != 0) {
		in_thread(why, deadline);
		return;
	}
	/* What the program wrote is out before the token can hold us, as
	 * exit() would have put it out after the handlers. */
	p11l_libc.fflush(NULL);
	run();
	if (end()) {
		p11l_watchdog_stop();
		return;
	}
	/* The watchdog gave up and is ending the process. */
	for (;;)
		p11l_libc.pause();
}

void p11l_release(const char *why, enum p11l_release_how how, int status)
{
	unsigned long long deadline;

	if (!begin(why, how != P11L_RELEASE_IF_IDLE, &deadline))
		return;
	if (deadline == 0 || how == P11L_RELEASE_IF_IDLE) {
		run();
		end();
	} else if (how == P11L_RELEASE_AT_EXIT) {
		at_exit(why, deadline, status);
	} else {
		in_thread(why, deadline);
	}
}
