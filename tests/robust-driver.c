/* The program of the robustness tests: it uses a PKCS#11 module (normally
 * odd-module.so) the way an application does, in the scenario named on its
 * command line, and never logs out unless the scenario says so.
 *
 * Usage: robust-driver SCENARIO MODULE [ARG...]
 *   login MODULE [bad-handle]      log in to slot 1 and exit
 *   fork MODULE plain|logout|reinit
 *                                  log in, fork; the child exits through
 *                                  exit() (after C_Logout, or after logging
 *                                  in to slot 2 itself); the parent signs
 *   threads MODULE N OPS own|shared
 *                                  N threads, OPS random lifecycle calls
 *                                  each, on a slot of their own or on all
 *   exit-thread MODULE N STATUS    log in; N threads enter a call that never
 *                                  returns; another thread calls exit(STATUS)
 *   race MODULE logout|closeall    while one thread's C_Logout (or
 *                                  C_CloseAllSessions) is returning, with
 *                                  ODD_MODE=slow-logout (slow-closeall),
 *                                  another logs in (opens a session)
 *   reload MODULE                  log in, C_Finalize, dlclose, load again,
 *                                  log in again
 *   unload MODULE [OTHER]          log in, dlclose without C_Finalize, (load
 *                                  OTHER and initialise it), exit
 *   stale-call MODULE              as unload, then call the module's old
 *                                  C_Logout: the crash the library avoids
 *
 * stdout depends only on what the module answers.  Lines "driver: ..." go
 * to $ODD_LOG, and "driver exit" (fake-driver's marker too) just before
 * exit(), so what the log has after it happened at exit.  Exit status: $ROBUST_EXIT (default 0)
 * unless the scenario says otherwise; 1 on an unexpected failure. */
#include "config.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pkcs11-types.h"

typedef CK_RV (*sign_fn)(CK_SESSION_HANDLE, CK_BYTE *, CK_ULONG, CK_BYTE *, CK_ULONG *);
typedef CK_RV (*info_fn)(void *);
typedef CK_RV (*sessinfo_fn)(CK_SESSION_HANDLE, CK_SESSION_INFO *);
typedef void (*dump_fn)(const char *);

struct mod {
	void *handle;
	CK_FUNCTION_LIST *fl;
};

static const char *pin = "123456";

/* Appends one line to $ODD_LOG (when set). */
static void log_line(const char *line, size_t n)
{
	const char *path = getenv("ODD_LOG");
	int fd;

	if (!path || !*path)
		return;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
	if (fd >= 0) {
		if (write(fd, line, n) < 0)
			perror("robust-driver: log");
		close(fd);
	}
}

static void mark(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void mark(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	int n;

	n = snprintf(line, sizeof line, "driver: ");
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	line[n++] = '\n';
	log_line(line, (size_t)n);
}

/* The marker every test driver writes last (tests/tap-lib.sh's run
 * splits the log there): what follows happened at exit. */
static void mark_exit(void)
{
	log_line("driver exit\n", 12);
}

static int exit_status(void)
{
	const char *v = getenv("ROBUST_EXIT");
	return v ? atoi(v) : 0;
}

static void finish(void)
{
	fflush(stdout);
	mark_exit();
	exit(exit_status());
}

static void die(const char *what, CK_RV rv)
{
	fprintf(stderr, "robust-driver: %s: 0x%lx\n", what, rv);
	exit(1);
}

#define FN(m, idx, type) ((type)(m)->fl->fn[idx])

static int load(struct mod *m, const char *path)
{
	CK_C_GetFunctionList g;
	void *sym;
	CK_RV rv;

	m->fl = NULL;
	m->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!m->handle) {
		fprintf(stderr, "robust-driver: %s\n", dlerror());
		exit(1);
	}
	sym = dlsym(m->handle, "C_GetFunctionList");
	if (!sym)
		die("no C_GetFunctionList", 0);
	memcpy(&g, &sym, sizeof g);
	rv = g(&m->fl);
	printf("C_GetFunctionList: 0x%lx, list %s\n", rv, m->fl ? "set" : "NULL");
	if (rv != CKR_OK || !m->fl)
		return 0;
	printf("C_Logout entry: %s\n", m->fl->fn[P11L_C_Logout] ? "present" : "NULL");
	return 1;
}

static CK_RV init(struct mod *m)
{
	return FN(m, P11L_C_Initialize, CK_C_Initialize)(NULL);
}

static CK_RV open_session(struct mod *m, CK_SLOT_ID slot, CK_SESSION_HANDLE *h)
{
	return FN(m, P11L_C_OpenSession, CK_C_OpenSession)(slot,
		CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, h);
}

static CK_RV login(struct mod *m, CK_SESSION_HANDLE h)
{
	return FN(m, P11L_C_Login, CK_C_Login)(h, CKU_USER,
		(CK_UTF8CHAR *)pin, (CK_ULONG)strlen(pin));
}

static CK_RV logout(struct mod *m, CK_SESSION_HANDLE h)
{
	return FN(m, P11L_C_Logout, CK_C_Logout)(h);
}

static CK_RV close_session(struct mod *m, CK_SESSION_HANDLE h)
{
	return FN(m, P11L_C_CloseSession, CK_C_CloseSession)(h);
}

static CK_RV sign(struct mod *m, CK_SESSION_HANDLE h)
{
	CK_BYTE data[] = "data", sig[16];
	CK_ULONG len = sizeof sig;

	return FN(m, P11L_C_Sign, sign_fn)(h, data, sizeof data - 1, sig, &len);
}

/* Loads, initialises, opens a session on slot 1 and logs in. */
static CK_SESSION_HANDLE start(struct mod *m, const char *path)
{
	CK_SESSION_HANDLE h = 0;
	CK_RV rv;

	if (!load(m, path))
		finish();
	if ((rv = init(m)) != CKR_OK)
		die("C_Initialize", rv);
	if ((rv = open_session(m, 1, &h)) != CKR_OK)
		die("C_OpenSession", rv);
	rv = login(m, h);
	printf("C_Login: 0x%lx\n", rv);
	return h;
}

static void dump(struct mod *m, const char *tag)
{
	void *sym = dlsym(m->handle, "odd_dump_state");
	dump_fn f;

	if (!sym)
		return;
	memcpy(&f, &sym, sizeof f);
	f(tag);
}

/* --- login ----------------------------------------------------------- */
static void scenario_login(const char *path, const char *variant)
{
	struct mod m;
	CK_SESSION_HANDLE h = 0;
	CK_SESSION_INFO info;
	CK_RV rv;

	if (!load(&m, path))
		finish();
	if ((rv = init(&m)) != CKR_OK)
		die("C_Initialize", rv);
	if ((rv = open_session(&m, 1, &h)) != CKR_OK)
		die("C_OpenSession", rv);
	if (variant && strcmp(variant, "bad-handle") == 0) {
		rv = login(&m, 0xdead0);
		printf("C_Login(invalid handle): 0x%lx\n", rv);
	} else {
		rv = login(&m, h);
		printf("C_Login: 0x%lx\n", rv);
	}
	rv = FN(&m, P11L_C_GetSessionInfo, sessinfo_fn)(h, &info);
	printf("C_GetSessionInfo: 0x%lx\n", rv);
	rv = sign(&m, h);
	printf("C_Sign: 0x%lx\n", rv);
	finish();
}

/* --- fork ------------------------------------------------------------ */
static void scenario_fork(const char *path, const char *variant)
{
	struct mod m;
	CK_SESSION_HANDLE h = start(&m, path), h2;
	int status;
	pid_t pid;
	CK_RV rv;

	fflush(stdout);
	mark("fork");
	pid = fork();
	if (pid < 0)
		die("fork", 0);
	if (pid == 0) {
		if (strcmp(variant, "logout") == 0) {
			/* What an exit handler blind to fork would do. */
			logout(&m, h);
		} else if (strcmp(variant, "reinit") == 0) {
			if (init(&m) == CKR_OK && open_session(&m, 2, &h2) == CKR_OK)
				login(&m, h2);
		}
		exit(0);
	}
	if (waitpid(pid, &status, 0) != pid)
		die("waitpid", 0);
	mark("child exited with %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	printf("child: %s %d\n", WIFEXITED(status) ? "exit" : "signal",
	       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	rv = sign(&m, h);
	printf("parent C_Sign after the child exited: 0x%lx\n", rv);
	finish();
}

/* --- threads --------------------------------------------------------- */
struct worker {
	struct mod *m;
	CK_SLOT_ID first, count;
	unsigned ops, seed;
	int finish_login;
	unsigned long calls[8];
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	CK_SESSION_HANDLE mine[4];
	unsigned nmine = 0;

	for (unsigned i = 0; i < w->ops; i++) {
		unsigned r = (unsigned)rand_r(&w->seed);
		unsigned op = r % 16;
		CK_SLOT_ID slot = w->first + (r / 16) % w->count;
		CK_SESSION_HANDLE h = nmine ? mine[(r / 256) % nmine] : 0;

		if (op < 4 || nmine == 0) {
			if (nmine < 4 && open_session(w->m, slot, &mine[nmine]) == CKR_OK)
				nmine++;
			w->calls[0]++;
		} else if (op < 7) {
			unsigned k = (r / 256) % nmine;
			close_session(w->m, mine[k]);
			mine[k] = mine[--nmine];
			w->calls[1]++;
		} else if (op < 10) {
			login(w->m, h);
			w->calls[2]++;
		} else if (op < 13) {
			logout(w->m, h);
			w->calls[3]++;
		} else if (op < 14 && w->count == 1) {
			/* Closes every session of the thread's own slot.  (On
			 * shared slots see the "race" scenario.) */
			CK_SLOT_ID s = slot;
			FN(w->m, P11L_C_CloseAllSessions, CK_C_CloseAllSessions)(s);
			w->calls[4]++;
		} else {
			if (sign(w->m, h) == CKR_SESSION_HANDLE_INVALID) {
				unsigned k = (r / 256) % nmine;
				mine[k] = mine[--nmine];
			}
			w->calls[5]++;
		}
	}
	/* Some threads end logged in, so that there is always something
	 * for the exit handler to do. */
	if (w->finish_login) {
		CK_SESSION_HANDLE h;

		if (open_session(w->m, w->first, &h) == CKR_OK)
			login(w->m, h);
	}
	return NULL;
}

static void scenario_threads(const char *path, unsigned n, unsigned ops,
			     const char *how)
{
	struct mod m;
	pthread_t t[64];
	struct worker w[64];
	int shared = strcmp(how, "shared") == 0;
	CK_RV rv;

	if (n < 1 || n > 64)
		die("thread count", n);
	if (!load(&m, path))
		finish();
	if ((rv = init(&m)) != CKR_OK)
		die("C_Initialize", rv);
	for (unsigned i = 0; i < n; i++) {
		memset(&w[i], 0, sizeof w[i]);
		w[i].m = &m;
		w[i].ops = ops;
		w[i].seed = 1234u + i;
		w[i].first = shared ? 1 : 1 + i % 16;
		w[i].count = shared ? 4 : 1;
		w[i].finish_login = i % 2 == 0;
		if (pthread_create(&t[i], NULL, worker_main, &w[i]) != 0)
			die("pthread_create", i);
	}
	for (unsigned i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	printf("threads: %u x %u calls done\n", n, ops);
	dump(&m, "end");
	finish();
}

/* --- exit from a thread while others are inside the module --------- */
static pthread_mutex_t inside_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned inside;

static void *sleeper_main(void *arg)
{
	struct mod *m = arg;

	pthread_mutex_lock(&inside_lock);
	inside++;
	pthread_mutex_unlock(&inside_lock);
	FN(m, P11L_C_GetInfo, info_fn)(NULL);
	return NULL;
}

static int exit_thread_status;

static void *exiter_main(void *arg)
{
	(void)arg;
	fflush(stdout);
	mark_exit();
	exit(exit_thread_status);
}

static void scenario_exit_thread(const char *path, unsigned n, int status)
{
	struct mod m;
	pthread_t t, sleepers[64];
	struct timespec pause = { 0, 200 * 1000 * 1000 };

	if (n > 64)
		die("thread count", n);
	start(&m, path);
	for (unsigned i = 0; i < n; i++)
		if (pthread_create(&sleepers[i], NULL, sleeper_main, &m) != 0)
			die("pthread_create", i);
	for (;;) {
		pthread_mutex_lock(&inside_lock);
		unsigned k = inside;
		pthread_mutex_unlock(&inside_lock);
		if (k == n)
			break;
		nanosleep(&pause, NULL);
	}
	/* Let them reach the module's sleep. */
	nanosleep(&pause, NULL);
	printf("%u threads inside the module\n", n);
	exit_thread_status = status;
	if (pthread_create(&t, NULL, exiter_main, NULL) != 0)
		die("pthread_create", 0);
	pthread_join(t, NULL);
	die("exit() returned", 0);
}

/* --- a call that returns while another changes the same slot ------ */
struct racer {
	struct mod *m;
	CK_SESSION_HANDLE h;
	int closeall;
};

static void *racer_main(void *arg)
{
	struct racer *r = arg;

	if (r->closeall)
		FN(r->m, P11L_C_CloseAllSessions, CK_C_CloseAllSessions)(1);
	else
		logout(r->m, r->h);
	return NULL;
}

static void scenario_race(const char *path, const char *what)
{
	struct mod m;
	struct racer r;
	struct timespec pause = { 0, 100 * 1000 * 1000 };
	CK_SESSION_HANDLE h = start(&m, path), h2 = 0;
	pthread_t t;
	CK_RV rv;

	r.m = &m;
	r.h = h;
	r.closeall = strcmp(what, "closeall") == 0;
	if (!r.closeall && (rv = open_session(&m, 1, &h2)) != CKR_OK)
		die("C_OpenSession", rv);
	if (pthread_create(&t, NULL, racer_main, &r) != 0)
		die("pthread_create", 0);
	/* The module changes the state at once and returns 300 ms later. */
	nanosleep(&pause, NULL);
	if (r.closeall) {
		rv = open_session(&m, 1, &h2);
		printf("C_OpenSession while C_CloseAllSessions returns: 0x%lx\n", rv);
	} else {
		rv = login(&m, h2);
		printf("C_Login while C_Logout returns: 0x%lx\n", rv);
	}
	pthread_join(t, NULL);
	dump(&m, "end");
	finish();
}

/* --- unloading ------------------------------------------------------- */
static int mapped(const char *path)
{
	char line[4096];
	FILE *f = fopen("/proc/self/maps", "r");
	int found = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (strstr(line, path))
			found = 1;
	fclose(f);
	return found;
}

static void scenario_reload(const char *path)
{
	struct mod m;
	CK_SESSION_HANDLE h = start(&m, path);
	CK_RV rv;

	(void)h;
	rv = FN(&m, P11L_C_Finalize, CK_C_Finalize)(NULL);
	printf("C_Finalize: 0x%lx\n", rv);
	dlclose(m.handle);
	printf("mapped after dlclose: %s\n", mapped(path) ? "yes" : "no");
	h = start(&m, path);
	rv = sign(&m, h);
	printf("C_Sign: 0x%lx\n", rv);
	finish();
}

static void scenario_unload(const char *path, const char *other, int call_stale)
{
	struct mod m, o;
	CK_SESSION_HANDLE h = start(&m, path);
	CK_C_Logout stale = FN(&m, P11L_C_Logout, CK_C_Logout);
	CK_RV rv;

	dlclose(m.handle);
	printf("mapped after dlclose: %s\n", mapped(path) ? "yes" : "no");
	if (other) {
		if (!load(&o, other))
			finish();
		rv = init(&o);
		printf("other C_Initialize: 0x%lx\n", rv);
	}
	if (call_stale) {
		fflush(stdout);
		rv = stale(h);
		printf("stale C_Logout returned 0x%lx\n", rv);
	}
	finish();
}

int main(int argc, char **argv)
{
	const char *sc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 3) {
		fprintf(stderr, "usage: robust-driver SCENARIO MODULE [ARG...]\n");
		return 2;
	}
	sc = argv[1];
	if (strcmp(sc, "login") == 0)
		scenario_login(argv[2], argc > 3 ? argv[3] : NULL);
	else if (strcmp(sc, "fork") == 0 && argc == 4)
		scenario_fork(argv[2], argv[3]);
	else if (strcmp(sc, "threads") == 0 && argc == 6)
		scenario_threads(argv[2], (unsigned)atoi(argv[3]),
				 (unsigned)atoi(argv[4]), argv[5]);
	else if (strcmp(sc, "exit-thread") == 0 && argc == 5)
		scenario_exit_thread(argv[2], (unsigned)atoi(argv[3]), atoi(argv[4]));
	else if (strcmp(sc, "race") == 0 && argc == 4)
		scenario_race(argv[2], argv[3]);
	else if (strcmp(sc, "reload") == 0)
		scenario_reload(argv[2]);
	else if (strcmp(sc, "unload") == 0)
		scenario_unload(argv[2], argc > 3 ? argv[3] : NULL, 0);
	else if (strcmp(sc, "stale-call") == 0)
		scenario_unload(argv[2], NULL, 1);
	fprintf(stderr, "robust-driver: bad arguments\n");
	return 2;
}
