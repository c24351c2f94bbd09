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

static void usage(void)
{
	fprintf(stderr, "usage: fake-driver MODULE SCENARIO [MODULE2]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct module m, m2;
	CK_SESSION_HANDLE h, h2;
	const char *s;

	if (argc < 3)
		usage();
	s = scenario = argv[2];

	if (strcmp(s, "getter-fails") == 0) {
		load(&m, argv[1], BY_FUNCTION_LIST);
		fail("getter did not fail", CKR_OK);
	} else if (strcmp(s, "getter-fails-3.0") == 0) {
		load(&m, argv[1], BY_INTERFACE_3_0);
		fail("getter did not fail", CKR_OK);
	} else if (strcmp(s, "login-3.0") == 0 ||
		   strcmp(s, "login-3.0-list") == 0) {
		CK_C_LoginUser login_user;

		load(&m, argv[1], strcmp(s, "login-3.0") == 0
					  ? BY_INTERFACE_3_0
					  : BY_INTERFACE_LIST);
		initialize(&m);
		h = open_session(&m, 1);
		login_user = FN(&m, LoginUser);
		expect("C_LoginUser",
		       login_user(h, CKU_USER, (CK_UTF8CHAR *)DRIVER_PIN,
				  strlen(DRIVER_PIN),
				  (CK_UTF8CHAR *)DRIVER_USERNAME,
				  strlen(DRIVER_USERNAME)),
		       CKR_OK);
		finish();
	} else if (strcmp(s, "login-if-2.40") == 0) {
		load(&m, argv[1], BY_INTERFACE_2_40);
		initialize(&m);
		login(&m, open_session(&m, 1));
		finish();
	}

	load(&m, argv[1], BY_FUNCTION_LIST);
	initialize(&m);

	if (strcmp(s, "no-login") == 0) {
		open_session(&m, 1);
	} else if (strcmp(s, "one-slot") == 0 ||
		   strcmp(s, "logout-fails") == 0) {
		login(&m, open_session(&m, 1));
	} else if (strcmp(s, "so-login") == 0) {
		h = open_session(&m, 1);
		expect("C_Login SO", login_as(&m, h, CKU_SO, DRIVER_PIN),
		       CKR_OK);
	} else if (strcmp(s, "bad-pin") == 0) {
		h = open_session(&m, 1);
		expect("C_Login", login_as(&m, h, CKU_USER, DRIVER_WRONG_PIN),
		       CKR_PIN_INCORRECT);
	} else if (strcmp(s, "two-slots") == 0) {
		CK_SLOT_ID slots[2];
		CK_ULONG n = 2;

		expect("C_GetSlotList",
		       ((CK_RV(*)(CK_BYTE, CK_SLOT_ID *, CK_ULONG *))
				m.fl->fn[P11L_C_GetSlotList])(1, slots, &n),
		       CKR_OK);
		if (n != 2)
			fail("slot count", n);
		/* Two sessions on the first slot, logged in on the second. */
		open_session(&m, slots[0]);
		login(&m, open_session(&m, slots[0]));
		login(&m, open_session(&m, slots[1]));
	} else if (strcmp(s, "two-modules") == 0) {
		if (argc < 4)
			usage();
		load(&m2, argv[3], BY_FUNCTION_LIST);
		initialize(&m2);
		login(&m, open_session(&m, 1));
		login(&m2, open_session(&m2, 1));
	} else if (strcmp(s, "context-specific") == 0) {
		h = open_session(&m, 1);
		expect("C_Login CONTEXT_SPECIFIC",
		       login_as(&m, h, CKU_CONTEXT_SPECIFIC, DRIVER_PIN),
		       CKR_OK);
	} else if (strcmp(s, "self-logout") == 0) {
		h = open_session(&m, 1);
		login(&m, h);
		expect("C_Logout", FN(&m, Logout)(h), CKR_OK);
	} else if (strcmp(s, "login-logout-login") == 0) {
		h = open_session(&m, 1);
		login(&m, h);
		expect("C_Logout", FN(&m, Logout)(h), CKR_OK);
		login(&m, h);
	} else if (strcmp(s, "self-finalize") == 0) {
		login(&m, open_session(&m, 1));
		expect("C_Finalize", FN(&m, Finalize)(NULL), CKR_OK);
	} else if (strcmp(s, "finalize-relogin") == 0) {
		login(&m, open_session(&m, 1));
		expect("C_Finalize", FN(&m, Finalize)(NULL), CKR_OK);
		initialize(&m);
		login(&m, open_session(&m, 1));
	} else if (strcmp(s, "close-before-exit") == 0) {
		h = open_session(&m, 1);
		login(&m, h);
		expect("C_CloseSession", FN(&m, CloseSession)(h), CKR_OK);
	} else if (strcmp(s, "close-login-session") == 0) {
		/* Logged in on one session, which is closed; another one on
		 * the same slot stays open. */
		h = open_session(&m, 1);
		login(&m, h);
		open_session(&m, 1);
		expect("C_CloseSession", FN(&m, CloseSession)(h), CKR_OK);
	} else if (strcmp(s, "list-getter") == 0) {
		/* The list's own C_GetFunctionList member hands out the list
		 * the program then uses. */
		CK_FUNCTION_LIST *again = NULL;

		expect("list C_GetFunctionList",
		       FN(&m, GetFunctionList)(&again), CKR_OK);
		if (again == NULL)
			fail("list C_GetFunctionList: no list", CKR_OK);
		m.fl = again;
		login(&m, open_session(&m, 1));
	} else if (strcmp(s, "fork") == 0) {
		/* A child that exits with exit() (running the exit handlers it
		 * inherited) while the parent is still logged in. */
		pid_t pid;
		int ws;

		login(&m, open_session(&m, 1));
		fflush(stdout);
		pid = fork();
		if (pid < 0) {
			perror("fake-driver: fork");
			return 1;
		}
		if (pid == 0) {
			log_line("child exit");
			exit(0);
		}
		if (waitpid(pid, &ws, 0) != pid || !WIFEXITED(ws) ||
		    WEXITSTATUS(ws) != 0)
			fail("child", (CK_RV)ws);
		log_line("child done");
		printf("child exited\n");
	} else if (strcmp(s, "close-all-before-exit") == 0) {
		h = open_session(&m, 1);
		h2 = open_session(&m, 1);
		login(&m, h2);
		(void)h;
		expect("C_CloseAllSessions", FN(&m, CloseAllSessions)(1),
		       CKR_OK);
	} else if (strcmp(s, "mixed-slots") == 0) {
		/* Slot 1: sessions 100 and 101, logged in on 101; slot 2:
		 * session 102, not logged in.  With MODULE2, one session
		 * there too, not logged in. */
		CK_SLOT_ID slots[2];
		CK_ULONG n = 2;

		expect("C_GetSlotList",
		       ((CK_RV(*)(CK_BYTE, CK_SLOT_ID *, CK_ULONG *))
				m.fl->fn[P11L_C_GetSlotList])(1, slots, &n),
		       CKR_OK);
		if (n != 2)
			fail("slot count", n);
		open_session(&m, slots[0]);
		login(&m, open_session(&m, slots[0]));
		open_session(&m, slots[1]);
		if (argc >= 4) {
			load(&m2, argv[3], BY_FUNCTION_LIST);
			initialize(&m2);
			open_session(&m2, 1);
		}
	} else if (strcmp(s, "session-full") == 0) {
		/* Every session the module has (64), then one more, which
		 * fails with CKR_SESSION_COUNT. */
		for (int i = 0; i < 64; i++)
			open_session(&m, 1);
		h = 0;
		expect("C_OpenSession 65",
		       FN(&m, OpenSession)(1, CKF_SERIAL_SESSION, NULL, NULL,
					  &h),
		       CKR_SESSION_COUNT);
	} else {
		fprintf(stderr, "fake-driver: unknown scenario %s\n", s);
		return 2;
	}
	finish();
}
