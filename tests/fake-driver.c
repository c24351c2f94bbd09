/* A test program that uses a PKCS#11 module the way openssl with libp11
 * does: dlopen() the module, dlsym() its getter, log in, and exit without
 * C_Logout or C_Finalize (unless the scenario says otherwise).
 *
 * Usage: fake-driver MODULE SCENARIO [MODULE2]
 *
 * Its stdout depends only on what the module returns, so a test can
 * compare it with and without libp11logout.  Just before exiting it
 * appends the line "driver exit" to $FAKE_LOG (when set), so that what
 * the module receives after that line is what happened at exit.  It exits
 * with $FAKE_DRIVER_EXIT (default 0), 3 when a getter fails, and 1 on any
 * other unexpected result (printed to stderr). */
#include "config.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pkcs11-types.h"

#define DRIVER_PIN "s3cr3t-PIN-4711"
#define DRIVER_WRONG_PIN "wrong-PIN-0000"
#define DRIVER_USERNAME "alice"
#define EXIT_GETTER_FAILED 3

enum getter { BY_FUNCTION_LIST, BY_INTERFACE_3_0, BY_INTERFACE_2_40,
	      BY_INTERFACE_LIST };

struct module {
	const char *path;
	void *handle;
	CK_FUNCTION_LIST *fl;
};

static const char *scenario;

static void log_line(const char *line)
{
	const char *log = getenv("FAKE_LOG");
	FILE *f;

	if (log == NULL || *log == '\0')
		return;
	f = fopen(log, "a");
	if (f != NULL) {
		fprintf(f, "%s\n", line);
		fclose(f);
	}
}

static void finish(void)
{
	const char *st = getenv("FAKE_DRIVER_EXIT");
	int status = st != NULL ? atoi(st) : 0;

	printf("%s: done\n", scenario);
	fflush(stdout);
	log_line("driver exit");
	exit(status);
}

static void fail(const char *what, CK_RV rv)
{
	fprintf(stderr, "fake-driver: %s: %s: unexpected rv 0x%lx\n",
		scenario, what, rv);
	exit(1);
}

/* Prints the step and its result; fails unless rv is one of the two
 * expected values. */
static CK_RV expect2(const char *what, CK_RV rv, CK_RV want, CK_RV or_want)
{
	printf("%s -> 0x%lx\n", what, rv);
	if (rv != want && rv != or_want)
		fail(what, rv);
	return rv;
}

static CK_RV expect(const char *what, CK_RV rv, CK_RV want)
{
	return expect2(what, rv, want, want);
}

/* dlsym's result as a function pointer, without a cast between object and
 * function pointers. */
static void *sym(struct module *m, const char *name)
{
	void *p = dlsym(m->handle, name);

	if (p == NULL) {
		fprintf(stderr, "fake-driver: %s: no %s in %s\n", scenario,
			name, m->path);
		exit(1);
	}
	return p;
}

static void getter_failed(const char *getter, CK_RV rv, int null_list)
{
	printf("%s failed: rv=0x%lx list=%s\n", getter, rv,
	       null_list ? "NULL" : "-");
	fprintf(stderr, "fake-driver: cannot get the function list of the "
			"module (%s returned 0x%lx%s)\n",
		getter, rv, null_list ? ", no list" : "");
	fflush(stdout);
	exit(EXIT_GETTER_FAILED);
}

static void load(struct module *m, const char *path, enum getter how)
{
	void *p;
	CK_RV rv;

	m->path = path;
	m->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (m->handle == NULL) {
		fprintf(stderr, "fake-driver: dlopen: %s\n", dlerror());
		exit(1);
	}
	if (how == BY_FUNCTION_LIST) {
		CK_C_GetFunctionList get;

		p = sym(m, "C_GetFunctionList");
		memcpy(&get, &p, sizeof get);
		m->fl = NULL;
		rv = get(&m->fl);
		if (rv != CKR_OK || m->fl == NULL)
			getter_failed("C_GetFunctionList", rv, m->fl == NULL);
	} else if (how == BY_INTERFACE_LIST) {
		CK_C_GetInterfaceList get;
		CK_INTERFACE ifs[8];
		CK_ULONG n = 0;

		p = sym(m, "C_GetInterfaceList");
		memcpy(&get, &p, sizeof get);
		rv = get(NULL, &n);
		if (rv != CKR_OK)
			getter_failed("C_GetInterfaceList", rv, 0);
		if (n > 8)
			fail("C_GetInterfaceList count", n);
		rv = get(ifs, &n);
		if (rv != CKR_OK)
			getter_failed("C_GetInterfaceList", rv, 0);
		m->fl = NULL;
		for (CK_ULONG i = 0; i < n; i++) {
			const CK_VERSION *v = ifs[i].pFunctionList;
			if (v != NULL &&
			    strcmp((const char *)ifs[i].pInterfaceName,
				   P11L_INTERFACE_NAME) == 0 &&
			    v->major >= 3)
				m->fl = ifs[i].pFunctionList;
		}
		if (m->fl == NULL)
			getter_failed("C_GetInterfaceList", rv, 1);
	} else {
		CK_C_GetInterface get;
		CK_VERSION v;
		CK_INTERFACE *iface = NULL;
		CK_UTF8CHAR name[] = P11L_INTERFACE_NAME;

		v.major = how == BY_INTERFACE_3_0 ? 3 : 2;
		v.minor = how == BY_INTERFACE_3_0 ? 0 : 40;
		p = sym(m, "C_GetInterface");
		memcpy(&get, &p, sizeof get);
		rv = get(name, &v, &iface, 0);
		if (rv != CKR_OK || iface == NULL ||
		    iface->pFunctionList == NULL)
			getter_failed("C_GetInterface", rv, 1);
		m->fl = iface->pFunctionList;
		if (m->fl->version.major != v.major ||
		    m->fl->version.minor != v.minor)
			fail("C_GetInterface version", m->fl->version.major);
	}
	printf("list version %u.%u\n", m->fl->version.major,
	       m->fl->version.minor);
}

#define FN(m, name) ((CK_C_##name)(m)->fl->fn[P11L_C_##name])

static void initialize(struct module *m)
{
	expect("C_Initialize", FN(m, Initialize)(NULL), CKR_OK);
}

static void finalize(struct module *m)
{
	expect("C_Finalize", FN(m, Finalize)(NULL), CKR_OK);
}

static CK_SESSION_HANDLE open_session(struct module *m, CK_SLOT_ID slot)
{
	CK_SESSION_HANDLE h = 0;

	expect("C_OpenSession",
	       FN(m, OpenSession)(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
				  NULL, NULL, &h),
	       CKR_OK);
	printf("session %lu on slot %lu\n", h, slot);
	return h;
}

static CK_RV login_as(struct module *m, CK_SESSION_HANDLE h,
		      CK_USER_TYPE user, const char *pin)
{
	return FN(m, Login)(h, user, (CK_UTF8CHAR *)pin, strlen(pin));
}

/* A user login; a token already logged in (by someone else) is fine. */
static void login(struct module *m, CK_SESSION_HANDLE h)
{
	expect2("C_Login", login_as(m, h, CKU_USER, DRIVER_PIN), CKR_OK,
		CKR_USER_ALREADY_LOGGED_IN);
}

/* A session on slot 1, logged in: most scenarios start there. */
static CK_SESSION_HANDLE logged_in(struct module *m)
{
	CK_SESSION_HANDLE h = open_session(m, 1);

	login(m, h);
	return h;
}

static void usage(void)
{
	fprintf(stderr, "usage: fake-driver MODULE SCENARIO [MODULE2]\n");
	exit(2);
}

/* One function per scenario, given the module (loaded as the scenario's
 * row in the table below says); main finishes when it returns. */

/* The second module's path (NULL when not given). */
static const char *path2;

static void start(struct module *m, const char *path)
{
	load(m, path, BY_FUNCTION_LIST);
	initialize(m);
}

/* getter-fails, getter-fails-3.0: load exits where the getter fails. */
static void sc_getter_works(struct module *m)
{
	(void)m;
	fail("getter did not fail", CKR_OK);
}

/* login-3.0, login-3.0-list: a 3.0 list, from C_GetInterface or from
 * C_GetInterfaceList. */
static void sc_login_user(struct module *m)
{
	CK_C_LoginUser fn = FN(m, LoginUser);
	CK_SESSION_HANDLE h = open_session(m, 1);

	expect("C_LoginUser",
	       fn(h, CKU_USER, (CK_UTF8CHAR *)DRIVER_PIN, strlen(DRIVER_PIN),
		  (CK_UTF8CHAR *)DRIVER_USERNAME, strlen(DRIVER_USERNAME)),
	       CKR_OK);
}

static void sc_no_login(struct module *m)
{
	open_session(m, 1);
}

/* Also login-if-2.40 (through the 2.40 interface) and logout-fails (the
 * module's C_Logout fails with FAKE_LOGOUT_FAIL). */
static void sc_one_slot(struct module *m)
{
	logged_in(m);
}

static void sc_so_login(struct module *m)
{
	CK_SESSION_HANDLE h;

	h = open_session(m, 1);
	expect("C_Login SO", login_as(m, h, CKU_SO, DRIVER_PIN), CKR_OK);
}

static void sc_bad_pin(struct module *m)
{
	CK_SESSION_HANDLE h;

	h = open_session(m, 1);
	expect("C_Login", login_as(m, h, CKU_USER, DRIVER_WRONG_PIN),
	       CKR_PIN_INCORRECT);
}

/* The module's two slots (FAKE_SLOTS=2). */
static void two_slots(struct module *m, CK_SLOT_ID slots[2])
{
	CK_ULONG n = 2;

	expect("C_GetSlotList",
	       ((CK_RV(*)(CK_BYTE, CK_SLOT_ID *, CK_ULONG *))
			m->fl->fn[P11L_C_GetSlotList])(1, slots, &n),
	       CKR_OK);
	if (n != 2)
		fail("slot count", n);
}

static void sc_two_slots(struct module *m)
{
	CK_SLOT_ID slots[2];

	two_slots(m, slots);
	/* Two sessions on the first slot, logged in on the second. */
	open_session(m, slots[0]);
	login(m, open_session(m, slots[0]));
	login(m, open_session(m, slots[1]));
}

static void sc_two_modules(struct module *m)
{
	struct module m2;

	if (path2 == NULL)
		usage();
	start(&m2, path2);
	logged_in(m);
	login(&m2, open_session(&m2, 1));
}

static void sc_context_specific(struct module *m)
{
	CK_SESSION_HANDLE h;

	h = open_session(m, 1);
	expect("C_Login CONTEXT_SPECIFIC",
	       login_as(m, h, CKU_CONTEXT_SPECIFIC, DRIVER_PIN), CKR_OK);
}

static void sc_self_logout(struct module *m)
{
	CK_SESSION_HANDLE h = logged_in(m);

	expect("C_Logout", FN(m, Logout)(h), CKR_OK);
}

static void sc_login_logout_login(struct module *m)
{
	CK_SESSION_HANDLE h = logged_in(m);

	expect("C_Logout", FN(m, Logout)(h), CKR_OK);
	login(m, h);
}

static void sc_self_finalize(struct module *m)
{
	logged_in(m);
	finalize(m);
}

static void sc_finalize_relogin(struct module *m)
{
	logged_in(m);
	expect("C_Finalize", FN(m, Finalize)(NULL), CKR_OK);
	initialize(m);
	logged_in(m);
}

static void sc_close_before_exit(struct module *m)
{
	CK_SESSION_HANDLE h = logged_in(m);

	expect("C_CloseSession", FN(m, CloseSession)(h), CKR_OK);
}

/* Logged in on one session, which is closed; another one on the same
 * slot stays open. */
static void sc_close_login_session(struct module *m)
{
	CK_SESSION_HANDLE h = logged_in(m);

	open_session(m, 1);
	expect("C_CloseSession", FN(m, CloseSession)(h), CKR_OK);
}

/* The program's own C_Finalize while logged in, but with no session left
 * open (the login ended with it), or after its own C_Logout, or logged in
 * on two slots (FAKE_SLOTS=2). */
static void sc_close_then_finalize(struct module *m)
{
	sc_close_before_exit(m);
	finalize(m);
}

static void sc_logout_finalize(struct module *m)
{
	sc_self_logout(m);
	finalize(m);
}

static void sc_two_slots_finalize(struct module *m)
{
	sc_two_slots(m);
	finalize(m);
}

/* The list's own C_GetFunctionList member hands out the list the program
 * then uses. */
static void sc_list_getter(struct module *m)
{
	CK_FUNCTION_LIST *again = NULL;

	expect("list C_GetFunctionList", FN(m, GetFunctionList)(&again),
	       CKR_OK);
	if (again == NULL)
		fail("list C_GetFunctionList: no list", CKR_OK);
	m->fl = again;
	logged_in(m);
}

/* Logs in, then runs a child that exits with exit() (running the exit
 * handlers it inherited), C_Finalize first if FINALIZE, while the parent
 * stays logged in. */
static pid_t login_then_fork(struct module *m)
{
	pid_t pid;

	logged_in(m);
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		perror("fake-driver: fork");
		exit(1);
	}
	return pid;
}

static void fork_child(struct module *m, int finalize)
{
	pid_t pid = login_then_fork(m);
	int ws;

	if (pid == 0) {
		if (finalize) {
			log_line("child finalize");
			if (FN(m, Finalize)(NULL) != CKR_OK)
				_exit(1);
		}
		log_line("child exit");
		exit(0);
	}
	if (waitpid(pid, &ws, 0) != pid || !WIFEXITED(ws) ||
	    WEXITSTATUS(ws) != 0)
		fail("child", (CK_RV)ws);
	log_line("child done");
	printf("child exited\n");
}

static void sc_fork(struct module *m)
{
	fork_child(m, 0);
}

/* The child's C_Finalize must not log out the parent's login. */
static void sc_fork_finalize(struct module *m)
{
	fork_child(m, 1);
}

static void sc_close_all_before_exit(struct module *m)
{
	open_session(m, 1);
	logged_in(m);
	expect("C_CloseAllSessions", FN(m, CloseAllSessions)(1), CKR_OK);
}

/* Slot 1: sessions 100 and 101, logged in on 101; slot 2: session 102,
 * not logged in.  With MODULE2, one session there too, not logged in. */
static void sc_mixed_slots(struct module *m)
{
	struct module m2;
	CK_SLOT_ID slots[2];

	two_slots(m, slots);
	open_session(m, slots[0]);
	login(m, open_session(m, slots[0]));
	open_session(m, slots[1]);
	if (path2 != NULL) {
		start(&m2, path2);
		open_session(&m2, 1);
	}
}

/* Every session the module has (64), then one more, which fails with
 * CKR_SESSION_COUNT. */
static void sc_session_full(struct module *m)
{
	CK_SESSION_HANDLE h = 0;

	for (int i = 0; i < 64; i++)
		open_session(m, 1);
	expect("C_OpenSession 65",
	       FN(m, OpenSession)(1, CKF_SERIAL_SESSION, NULL, NULL, &h),
	       CKR_SESSION_COUNT);
}

/* FAKE_HOLD_MS (default 60 s): how long a holding scenario stays logged
 * in before it exits, unless killed first. */
static void hold(void)
{
	const char *v = getenv("FAKE_HOLD_MS");
	long ms = v != NULL ? atol(v) : 60000;

	usleep((useconds_t)(ms % 1000) * 1000);
	sleep((unsigned)(ms / 1000));
}

/* A login that may be refused (P11LOGOUT_MAX_SESSIONS): its answer
 * printed; once logged in, the line "hold $FAKE_TAG" goes to the log and
 * the process holds the login (FAKE_HOLD_MS), then exits; refused, it
 * exits with 5 at once. */
static void sc_login_hold(struct module *m)
{
	CK_RV rv = login_as(m, open_session(m, 1), CKU_USER, DRIVER_PIN);
	char line[64];

	printf("C_Login -> 0x%lx\n", rv);
	fflush(stdout);
	if (rv != CKR_OK)
		exit(5);
	snprintf(line, sizeof line, "hold %s", getenv("FAKE_TAG") ? getenv("FAKE_TAG") : "-");
	log_line(line);
	hold();
}

/* Logs in, forks a child that holds on (FAKE_HOLD_MS) without PKCS#11,
 * and exits itself at once, printing the child's pid. */
static void sc_fork_hold(struct module *m)
{
	pid_t pid = login_then_fork(m);

	if (pid == 0) {
		hold();
		_exit(0);
	}
	printf("child %ld\n", (long)pid);
}

static void *open_one_more(void *arg)
{
	struct module *m = arg;
	CK_SESSION_HANDLE h = 0;

	FN(m, OpenSession)(1, CKF_SERIAL_SESSION, NULL, NULL, &h);
	return NULL;
}

/* Every session taken; a thread opens one more, refused and (with
 * P11LOGOUT_WAIT) waiting, at the head of the queue by the time the main
 * thread forks a child that holds on (FAKE_HOLD_MS) without PKCS#11.  The
 * parent prints the child's pid and exits while the thread still waits. */
static void sc_session_full_fork(struct module *m)
{
	pthread_t t;
	pid_t pid;

	for (int i = 0; i < 64; i++)
		open_session(m, 1);
	if (pthread_create(&t, NULL, open_one_more, m) != 0) {
		fprintf(stderr, "fake-driver: pthread_create failed\n");
		exit(1);
	}
	usleep(300000);
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		perror("fake-driver: fork");
		exit(1);
	}
	if (pid == 0) {
		hold();
		_exit(0);
	}
	printf("child %ld\n", (long)pid);
}

static const struct {
	const char *name;
	enum getter how;
	int init; /* C_Initialize before the scenario */
	void (*run)(struct module *m);
} scenarios[] = {
	{ "getter-fails", BY_FUNCTION_LIST, 0, sc_getter_works },
	{ "getter-fails-3.0", BY_INTERFACE_3_0, 0, sc_getter_works },
	{ "login-3.0", BY_INTERFACE_3_0, 1, sc_login_user },
	{ "login-3.0-list", BY_INTERFACE_LIST, 1, sc_login_user },
	{ "login-if-2.40", BY_INTERFACE_2_40, 1, sc_one_slot },
	{ "no-login", BY_FUNCTION_LIST, 1, sc_no_login },
	{ "one-slot", BY_FUNCTION_LIST, 1, sc_one_slot },
	{ "logout-fails", BY_FUNCTION_LIST, 1, sc_one_slot },
	{ "so-login", BY_FUNCTION_LIST, 1, sc_so_login },
	{ "bad-pin", BY_FUNCTION_LIST, 1, sc_bad_pin },
	{ "two-slots", BY_FUNCTION_LIST, 1, sc_two_slots },
	{ "two-modules", BY_FUNCTION_LIST, 1, sc_two_modules },
	{ "context-specific", BY_FUNCTION_LIST, 1, sc_context_specific },
	{ "self-logout", BY_FUNCTION_LIST, 1, sc_self_logout },
	{ "login-logout-login", BY_FUNCTION_LIST, 1, sc_login_logout_login },
	{ "self-finalize", BY_FUNCTION_LIST, 1, sc_self_finalize },
	{ "finalize-relogin", BY_FUNCTION_LIST, 1, sc_finalize_relogin },
	{ "close-then-finalize", BY_FUNCTION_LIST, 1, sc_close_then_finalize },
	{ "logout-finalize", BY_FUNCTION_LIST, 1, sc_logout_finalize },
	{ "two-slots-finalize", BY_FUNCTION_LIST, 1, sc_two_slots_finalize },
	{ "fork-finalize", BY_FUNCTION_LIST, 1, sc_fork_finalize },
	{ "close-before-exit", BY_FUNCTION_LIST, 1, sc_close_before_exit },
	{ "close-login-session", BY_FUNCTION_LIST, 1, sc_close_login_session },
	{ "list-getter", BY_FUNCTION_LIST, 1, sc_list_getter },
	{ "fork", BY_FUNCTION_LIST, 1, sc_fork },
	{ "close-all-before-exit", BY_FUNCTION_LIST, 1, sc_close_all_before_exit },
	{ "mixed-slots", BY_FUNCTION_LIST, 1, sc_mixed_slots },
	{ "session-full", BY_FUNCTION_LIST, 1, sc_session_full },
	{ "login-hold", BY_FUNCTION_LIST, 1, sc_login_hold },
	{ "fork-hold", BY_FUNCTION_LIST, 1, sc_fork_hold },
	{ "session-full-fork", BY_FUNCTION_LIST, 1, sc_session_full_fork },
};

int main(int argc, char **argv)
{
	struct module m;

	if (argc < 3)
		usage();
	scenario = argv[2];
	path2 = argc >= 4 ? argv[3] : NULL;
	for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
		if (strcmp(scenarios[i].name, scenario) != 0)
			continue;
		load(&m, argv[1], scenarios[i].how);
		if (scenarios[i].init)
			initialize(&m);
		scenarios[i].run(&m);
		finish();
	}
	fprintf(stderr, "fake-driver: unknown scenario %s\n", scenario);
	return 2;
}
