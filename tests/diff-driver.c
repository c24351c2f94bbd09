/* The generated programs of the differential test (differential.sh,
 * issue 22): from a seed, a plausible PKCS#11 program, run as it is
 * generated.  It initialises the module (with or without locking
 * arguments, sometimes twice), lists slots, opens RO and RW sessions, logs
 * in (right PIN, wrong PIN, SO, already logged in), searches objects,
 * signs, asks session info, logs out (sometimes twice), closes valid,
 * closed and bogus sessions, closes all sessions (of a real or a bogus
 * slot) and finalizes (sometimes twice).  Then it ends: return from main,
 * exit(n), exit() with atexit handlers that make more calls, quick_exit()
 * with at_quick_exit handlers, OPENSSL_cleanup() then return, exit() from
 * a second thread while the first is inside calls, or fork() with calls in
 * the child.
 *
 * Usage: diff-driver SEED MODULE PIN SO-PIN
 *   DIFF_SHOW=1      print the program's first line only, run nothing
 *   DIFF_SPIN=0      in the thread ending, the first thread waits in
 *                    pause() instead of calling the module
 *   DIFF_LATE_USE=1  handlers registered before the first login may make
 *                    any call, not only clean-up calls
 *
 * stdout is the transcript: one line per call with its CK_RV, sessions as
 * ordinals (s1, s2... in the order the module handed them out) and slots
 * as their place in the slot list, never raw handles, so that runs with
 * and without libp11logout compare byte for byte.  $DIFF_MARK (the
 * module's trace file) gets "diff: ..." lines at the program's own
 * C_Initialize and C_Finalize and around a child's calls, so that the test
 * can tell what reached the module after the program's own finalize. */
#include "config.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "driver-common.h"

#ifdef DIFF_HAVE_CRYPTO
void OPENSSL_cleanup(void);
#endif

/* The few PKCS#11 names beyond the project's header. */
typedef CK_ULONG CK_OBJECT_HANDLE;
typedef struct {
	CK_ULONG type;
	void *value;
	CK_ULONG len;
} diff_attr;
typedef struct {
	CK_ULONG mechanism;
	void *param;
	CK_ULONG len;
} diff_mech;
struct diff_flags {
	void *create, *destroy, *lock, *unlock;
	CK_FLAGS flags;
	void *reserved;
};
#define DIFF_CKF_OS_LOCKING_OK 0x2UL
#define DIFF_CKA_CLASS 0x0UL
#define DIFF_CKA_LABEL 0x3UL
#define DIFF_CKO_PRIVATE_KEY 0x3UL
#define DIFF_CKM_SHA256_RSA_PKCS 0x40UL
#define DIFF_BOGUS_SESSION 0x5eed0b0bUL
#define DIFF_BOGUS_SLOT 0x5eed51070UL
enum { POS_GetSlotList = 4, POS_FindObjectsInit = 26, POS_FindObjects = 27,
       POS_FindObjectsFinal = 28 };

typedef CK_RV (*slot_list_fn)(CK_BYTE, CK_SLOT_ID *, CK_ULONG *);
typedef CK_RV (*find_init_fn)(CK_SESSION_HANDLE, diff_attr *, CK_ULONG);
typedef CK_RV (*find_fn)(CK_SESSION_HANDLE, CK_OBJECT_HANDLE *, CK_ULONG,
			 CK_ULONG *);
typedef CK_RV (*find_final_fn)(CK_SESSION_HANDLE);
typedef CK_RV (*sign_init_fn)(CK_SESSION_HANDLE, diff_mech *, CK_OBJECT_HANDLE);
typedef CK_RV (*sign_fn)(CK_SESSION_HANDLE, CK_BYTE *, CK_ULONG, CK_BYTE *,
			 CK_ULONG *);

#define MAX_SESSIONS 64
#define MAX_SLOTS 8

static CK_FUNCTION_LIST *fl;
static const char *pin, *so_pin, *who = "";
static unsigned long long rng;
static int show_only, locking, logged_once;
static CK_SESSION_HANDLE raw[MAX_SESSIONS + 1];
static int nsess;
static CK_SLOT_ID slots[MAX_SLOTS];
static CK_ULONG nslots;

static unsigned pick(unsigned n)
{
	/* xorshift64*: the same choices on every machine. */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (unsigned)((rng * 2685821657736338717ULL) >> 33) % n;
}

static void mark(const char *what)
{
	driver_log("DIFF_MARK", what);
}

static void line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void line(const char *fmt, ...)
{
	va_list ap;

	printf("%s", who);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static const char *rv_name(CK_RV rv, char b[24])
{
	snprintf(b, 24, "0x%lx", rv);
	return b;
}

#define RV(rv) rv_name((rv), (char[24]){ 0 })

/* The session ordinal a step acts on: mostly one of the last opened,
 * sometimes any earlier one (perhaps closed, perhaps from before a
 * re-initialisation), sometimes a bogus handle. */
/* A scripted program (diff-regress.sh) names each step and its arguments:
 * "login=s1/user".  ARGS are the current step's, NULL in a generated one. */
static int scripted;
static const char *args[3];

static int session_arg(const char *a)
{
	return strcmp(a, "bogus") == 0 ? 0 : atoi(a + 1);
}

static int pick_session(void)
{
	if (scripted)
		return args[0] ? session_arg(args[0]) : 0;
	if (nsess == 0 || pick(12) == 0)
		return 0;
	if (pick(4) == 0)
		return 1 + (int)pick((unsigned)nsess);
	return nsess - (int)pick(nsess < 2 ? 1 : 2);
}

static CK_SESSION_HANDLE handle(int s)
{
	return s ? raw[s] : DIFF_BOGUS_SESSION;
}

static const char *sname(int s, char b[16])
{
	if (s)
		snprintf(b, 16, "s%d", s);
	else
		snprintf(b, 16, "bogus");
	return b;
}

#define S(s) sname((s), (char[16]){ 0 })

static const char *slot_name(CK_SLOT_ID id, char b[16])
{
	for (CK_ULONG i = 0; i < nslots; i++)
		if (slots[i] == id) {
			snprintf(b, 16, "slot%lu", i);
			return b;
		}
	snprintf(b, 16, id == DIFF_BOGUS_SLOT ? "bogus-slot" : "other-slot");
	return b;
}

#define SLOT(id) slot_name((id), (char[16]){ 0 })

static CK_SLOT_ID pick_slot(void)
{
	if (scripted) {
		unsigned long i = args[0] && strncmp(args[0], "slot", 4) == 0 ?
			strtoul(args[0] + 4, NULL, 10) : MAX_SLOTS;
		return i < nslots ? slots[i] : DIFF_BOGUS_SLOT;
	}
	if (nslots == 0 || pick(10) == 0)
		return DIFF_BOGUS_SLOT;
	return slots[pick(8) ? 0 : pick((unsigned)nslots)];
}

/* The steps.  Each prints its call(s) and answers. */

static void do_initialize(void)
{
	struct diff_flags a = { .flags = DIFF_CKF_OS_LOCKING_OK };
	int with = scripted ? args[0] && strcmp(args[0], "locking") == 0 : (int)pick(2);
	CK_RV rv = DRIVER_CALL(fl, C_Initialize)(with ? &a : NULL);

	line("C_Initialize(%s) -> %s", with ? "os-locking" : "NULL", RV(rv));
	if (rv == CKR_OK) {
		locking = with;
		mark("diff: initialized");
	}
}

static void do_slot_list(void)
{
	CK_SLOT_ID list[MAX_SLOTS];
	CK_ULONG n = MAX_SLOTS;
	CK_RV rv = ((slot_list_fn)fl->fn[POS_GetSlotList])(1, list, &n);

	if (rv == CKR_OK) {
		nslots = n < MAX_SLOTS ? n : MAX_SLOTS;
		memcpy(slots, list, nslots * sizeof *slots);
		line("C_GetSlotList -> %s count=%lu", RV(rv), n);
	} else {
		line("C_GetSlotList -> %s", RV(rv));
	}
}

static void do_open(void)
{
	CK_SLOT_ID slot = pick_slot();
	int rw = scripted ? args[1] && strcmp(args[1], "rw") == 0 : pick(3) != 0;
	CK_SESSION_HANDLE h = 0;
	CK_RV rv = DRIVER_CALL(fl, C_OpenSession)(slot, CKF_SERIAL_SESSION |
			(rw ? CKF_RW_SESSION : 0), NULL, NULL, &h);

	if (rv == CKR_OK && nsess < MAX_SESSIONS) {
		raw[++nsess] = h;
		line("C_OpenSession(%s, %s) -> %s s%d", SLOT(slot),
		     rw ? "RW" : "RO", RV(rv), nsess);
	} else {
		line("C_OpenSession(%s, %s) -> %s", SLOT(slot), rw ? "RW" : "RO",
		     RV(rv));
	}
}

static void do_login(void)
{
	static const char *const kinds[] = { "user", "user", "user", "wrong-pin",
					     "so", "context" };
	unsigned k = pick(6);
	int s = pick_session();

	if (scripted)
		for (k = 0; k < 5 && !(args[1] && strcmp(args[1], kinds[k]) == 0); k++)
			;
	const char *p = k == 3 ? "not-the-pin" : k == 4 ? so_pin : pin;
	CK_USER_TYPE u = k == 4 ? CKU_SO : k == 5 ? CKU_CONTEXT_SPECIFIC : CKU_USER;
	CK_RV rv = DRIVER_CALL(fl, C_Login)(handle(s), u, (CK_UTF8CHAR *)p,
					    (CK_ULONG)strlen(p));

	line("C_Login(%s, %s) -> %s", S(s), kinds[k], RV(rv));
	/* What arms the library's exit handler (a context-specific login
	 * does not). */
	if ((rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN) && u != CKU_CONTEXT_SPECIFIC)
		logged_once = 1;
}

static void do_logout(void)
{
	int s = pick_session(), twice = !scripted && pick(4) == 0;

	for (int i = 0; i <= twice; i++)
		line("C_Logout(%s) -> %s", S(s),
		     RV(DRIVER_CALL(fl, C_Logout)(handle(s))));
}

static void do_close(void)
{
	int s = pick_session(), twice = !scripted && pick(5) == 0;

	for (int i = 0; i <= twice; i++)
		line("C_CloseSession(%s) -> %s", S(s),
		     RV(DRIVER_CALL(fl, C_CloseSession)(handle(s))));
}

static void do_close_all(void)
{
	CK_SLOT_ID slot = pick_slot();

	line("C_CloseAllSessions(%s) -> %s", SLOT(slot),
	     RV(DRIVER_CALL(fl, C_CloseAllSessions)(slot)));
}

static void do_finalize(void)
{
	int twice = !scripted && pick(4) == 0;

	for (int i = 0; i <= twice; i++) {
		CK_RV rv = DRIVER_CALL(fl, C_Finalize)(NULL);

		line("C_Finalize -> %s", RV(rv));
		if (rv == CKR_OK)
			mark("diff: finalized");
	}
}

static void do_info(void)
{
	int s = pick_session();
	CK_SESSION_INFO info;
	CK_RV rv;

	memset(&info, 0, sizeof info);
	rv = DRIVER_CALL(fl, C_GetSessionInfo)(handle(s), &info);
	if (rv == CKR_OK)
		line("C_GetSessionInfo(%s) -> %s %s state=%lu flags=0x%lx", S(s),
		     RV(rv), SLOT(info.slotID), info.state, info.flags);
	else
		line("C_GetSessionInfo(%s) -> %s", S(s), RV(rv));
}

/* Objects are counted, never named: their handles are the module's. */
static CK_RV find(CK_SESSION_HANDLE h, int label, CK_OBJECT_HANDLE *first,
		  CK_ULONG *count, CK_RV *final)
{
	CK_ULONG cls = DIFF_CKO_PRIVATE_KEY;
	diff_attr t[2] = { { DIFF_CKA_CLASS, &cls, sizeof cls },
			   { DIFF_CKA_LABEL, "k1", 2 } };
	CK_OBJECT_HANDLE objs[8];
	CK_RV rv = ((find_init_fn)fl->fn[POS_FindObjectsInit])(h, t, label ? 2 : 1);

	*count = 0;
	*final = CKR_OK;
	if (rv != CKR_OK)
		return rv;
	rv = ((find_fn)fl->fn[POS_FindObjects])(h, objs, 8, count);
	if (rv == CKR_OK && *count > 0)
		*first = objs[0];
	*final = ((find_final_fn)fl->fn[POS_FindObjectsFinal])(h);
	return rv;
}

static void do_find(void)
{
	int s = pick_session();
	CK_OBJECT_HANDLE o;
	CK_ULONG n;
	CK_RV final, rv = find(handle(s), 0, &o, &n, &final);

	line("C_FindObjects(%s, private keys) -> %s found=%lu final=%s", S(s),
	     RV(rv), n, RV(final));
}

static void do_sign(void)
{
	int s = pick_session();
	CK_OBJECT_HANDLE key = 0;
	CK_ULONG n, siglen = 512;
	CK_BYTE data[] = "differential", sig[512];
	diff_mech mech = { DIFF_CKM_SHA256_RSA_PKCS, NULL, 0 };
	CK_RV final, rv = find(handle(s), 1, &key, &n, &final);

	if (rv != CKR_OK || n == 0) {
		line("C_Sign(%s): key k1 -> %s found=%lu", S(s), RV(rv), n);
		return;
	}
	rv = ((sign_init_fn)fl->fn[P11L_C_SignInit])(handle(s), &mech, key);
	if (rv == CKR_OK)
		rv = ((sign_fn)fl->fn[P11L_C_Sign])(handle(s), data,
						    sizeof data - 1, sig, &siglen);
	else
		siglen = 0;
	line("C_Sign(%s) -> %s length=%lu", S(s), RV(rv), rv == CKR_OK ? siglen : 0);
}

typedef void (*step_fn)(void);
static const struct {
	const char *name;
	step_fn fn;
	unsigned weight;
	int cleanup;
} steps[] = {
	{ "initialize", do_initialize, 2, 0 }, { "slots", do_slot_list, 2, 0 },
	{ "open", do_open, 10, 0 }, { "login", do_login, 9, 0 },
	{ "logout", do_logout, 5, 1 }, { "close", do_close, 6, 1 },
	{ "close-all", do_close_all, 3, 1 }, { "finalize", do_finalize, 2, 1 },
	{ "info", do_info, 4, 0 }, { "find", do_find, 3, 0 },
	{ "sign", do_sign, 4, 0 },
};
#define NSTEPS (sizeof steps / sizeof steps[0])

/* CLEANUP_ONLY: the program's clean-up of what it had (logout, close,
 * close all, finalize), the calls whose answers after a release of the
 * library's are promised to be those without it. */
static void step_of(int cleanup_only)
{
	unsigned total = 0, r;
	size_t i;

	for (i = 0; i < NSTEPS; i++)
		if (!cleanup_only || steps[i].cleanup)
			total += steps[i].weight;
	r = pick(total);
	for (i = 0;; i++) {
		if (cleanup_only && !steps[i].cleanup)
			continue;
		if (r < steps[i].weight)
			break;
		r -= steps[i].weight;
	}
	steps[i].fn();
}

static void random_step(void)
{
	step_of(0);
}

/* A part of a scripted program: its steps, each "NAME[=ARG[/ARG]]". */
#define MAX_PART 32
struct part {
	char *step[MAX_PART];
	int n;
};
static struct part script_main, script_handler, script_child, script_parent;

static void run_part(const struct part *p)
{
	for (int i = 0; i < p->n; i++) {
		char buf[64], *save = NULL, *name;
		size_t k;

		snprintf(buf, sizeof buf, "%s", p->step[i]);
		name = strtok_r(buf, "=", &save);
		for (int a = 0; a < 3; a++)
			args[a] = strtok_r(NULL, "/", &save);
		for (k = 0; k < NSTEPS && strcmp(steps[k].name, name) != 0; k++)
			;
		if (k == NSTEPS) {
			fprintf(stderr, "diff-driver: no step %s\n", name);
			exit(2);
		}
		steps[k].fn();
	}
	args[0] = args[1] = args[2] = NULL;
}

/* The handlers' calls: a few steps each, from a seed of their own taken
 * when they were registered. */
#define MAX_HANDLERS 3
static unsigned long long handler_seed[MAX_HANDLERS];
static int handler_early[MAX_HANDLERS];
static int nhandlers, handlers_run, late_use;

/* A handler registered before the first login runs after the library's
 * exit handler: unless DIFF_LATE_USE=1, it only cleans up (README,
 * "Limits": what else such a handler does meets a released token). */
static void handler(void)
{
	int k = nhandlers - 1 - handlers_run++;
	unsigned long long saved = rng;

	rng = handler_seed[k];
	line("handler %d%s:", k + 1, handler_early[k] ? " (early)" : "");
	if (scripted)
		run_part(&script_handler);
	else
		for (unsigned n = 1 + pick(4); n > 0; n--)
			step_of(handler_early[k] && !late_use);
	rng = saved;
}

static void register_handler(int quick, int early)
{
	if (nhandlers == MAX_HANDLERS)
		return;
	handler_early[nhandlers] = early;
	handler_seed[nhandlers++] = rng * 0x9e3779b97f4a7c15ULL + 1;
	if (quick)
		at_quick_exit(handler);
	else
		atexit(handler);
}

enum ending { END_RETURN, END_EXIT, END_HANDLERS, END_QUICK, END_CLEANUP,
	      END_THREAD, END_FORK, ENDINGS };
static const char *const ending_names[] = { "return", "exit", "handlers",
	"quick_exit", "OPENSSL_cleanup", "thread", "fork" };

static volatile int spinning = 1;

static void *exit_thread(void *arg)
{
	struct timespec t = { 0, 2000000 };

	nanosleep(&t, NULL);
	line("thread: exit(%d)", (int)(long)arg);
	exit((int)(long)arg);
}

/* The main thread's calls while the second one exits: none printed, as
 * how many run is timing. */
static void spin(void)
{
	CK_SESSION_INFO info;
	const char *v = getenv("DIFF_SPIN");

	/* DIFF_SPIN=0: a module whose static objects the exit destroys
	 * (SoftHSM2) crashes under a thread still calling it, with or without
	 * the library; the first thread waits outside the module. */
	if (v && strcmp(v, "0") == 0)
		for (;;)
			pause();
	while (spinning)
		DRIVER_CALL(fl, C_GetSessionInfo)(handle(nsess), &info);
}

static int forked(int status)
{
	pid_t pid;
	int st;

	fflush(stdout);
	mark("diff: child begin");
	pid = fork();
	if (pid < 0) {
		perror("diff-driver: fork");
		exit(1);
	}
	if (pid == 0) {
		who = "child: ";
		if (scripted)
			run_part(&script_child);
		else
			for (unsigned n = 1 + pick(4); n > 0; n--)
				random_step();
		fflush(stdout);
		exit(scripted ? 0 : (int)pick(3));
	}
	while (waitpid(pid, &st, 0) < 0)
		;
	mark("diff: child end");
	if (WIFEXITED(st))
		line("child exited %d", WEXITSTATUS(st));
	else
		line("child killed by signal %d", WTERMSIG(st));
	if (scripted)
		run_part(&script_parent);
	else
		for (unsigned n = pick(3); n > 0; n--)
			random_step();
	return status;
}

/* "script:STEP... [handler: STEP...] [child: STEP...] [parent: STEP...]
 * ENDING [status=N]": the parent's steps run after its child ended. */
static enum ending parse_script(char *text, int *status)
{
	struct part *p = &script_main;
	enum ending end = END_EXIT;
	char *save = NULL;

	for (char *w = strtok_r(text, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		int e;

		for (e = 0; e < ENDINGS && strcmp(w, ending_names[e]) != 0; e++)
			;
		if (e < ENDINGS)
			end = (enum ending)e;
		else if (strncmp(w, "status=", 7) == 0)
			*status = atoi(w + 7);
		else if (strcmp(w, "handler:") == 0)
			p = &script_handler;
		else if (strcmp(w, "child:") == 0)
			p = &script_child;
		else if (strcmp(w, "parent:") == 0)
			p = &script_parent;
		else if (p->n < MAX_PART)
			p->step[p->n++] = w;
	}
	return end;
}

int main(int argc, char **argv)
{
	enum ending end;
	unsigned nsteps;
	int status;
	char *script_text = NULL;

	if (argc != 5) {
		fprintf(stderr, "usage: diff-driver SEED MODULE PIN SO-PIN\n");
		return 2;
	}
	rng = strtoull(argv[1], NULL, 0) * 0x2545f4914f6cdd1dULL + 0x853c49e6748fea9bULL;
	pin = argv[3];
	so_pin = argv[4];
	show_only = getenv("DIFF_SHOW") && strcmp(getenv("DIFF_SHOW"), "1") == 0;
	late_use = getenv("DIFF_LATE_USE") && strcmp(getenv("DIFF_LATE_USE"), "1") == 0;
	end = (enum ending)pick(ENDINGS);
	nsteps = 4 + pick(20);
	status = (int)pick(4);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strncmp(argv[1], "script:", 7) == 0) {
		line("%s", argv[1]);
		scripted = 1;
		status = 0;
		script_text = strdup(argv[1] + 7);
		end = parse_script(script_text, &status);
		nsteps = 0;
	} else {
		line("seed %s: %u steps, then %s, status %d", argv[1], nsteps,
		     ending_names[end], status);
	}
	if (show_only)
		return 0;

	CK_C_GetFunctionList get = (CK_C_GetFunctionList)driver_sym(
		driver_dlopen("diff-driver", argv[2]), "C_GetFunctionList");
	if (!get || get(&fl) != CKR_OK) {
		fprintf(stderr, "diff-driver: no function list in %s\n", argv[2]);
		return 1;
	}
	args[0] = scripted ? "locking" : NULL;
	do_initialize();
	args[0] = NULL;
	/* Registered before the first login: they run after the library's
	 * exit handler, and, being after the module's C_Initialize, before
	 * OpenSSL's own clean-up that C_Initialize registered. */
	if (scripted && script_handler.n)
		register_handler(end == END_QUICK, 1);
	else if (!scripted && (end == END_HANDLERS || end == END_QUICK))
		for (unsigned n = 1 + pick(2); n > 0; n--)
			register_handler(end == END_QUICK, 1);
	do_slot_list();
	run_part(&script_main);
	for (unsigned i = 0; i < nsteps; i++) {
		random_step();
		/* Sometimes one more, registered after the first login: it
		 * runs before the library's handler. */
		if ((end == END_HANDLERS || end == END_QUICK) && logged_once &&
		    pick(6) == 0)
			register_handler(end == END_QUICK, 0);
	}
	switch (end) {
	case END_RETURN:
		line("return %d", status);
		return status;
	case END_EXIT:
	case END_HANDLERS:
		line("exit(%d)", status);
		exit(status);
	case END_QUICK:
		line("quick_exit(%d)", status);
		quick_exit(status);
	case END_CLEANUP:
#ifdef DIFF_HAVE_CRYPTO
		OPENSSL_cleanup();
		line("OPENSSL_cleanup, return %d", status);
#else
		line("no libcrypto, return %d", status);
#endif
		return status;
	case END_THREAD: {
		pthread_t t;

		if (!locking) {
			line("not initialised for threads: exit(%d)", status);
			exit(status);
		}
		if (pthread_create(&t, NULL, exit_thread, (void *)(long)status) != 0) {
			perror("diff-driver: pthread_create");
			return 1;
		}
		mark("diff: spinning");
		spin();
		return 1;
	}
	case END_FORK:
		status = forked(status);
		line("exit(%d)", status);
		exit(status);
	case ENDINGS:
		break;
	}
	return 1;
}
