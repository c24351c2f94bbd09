/* A careful PKCS#11 program for exit-cleanup.sh (issue 9.1): it registers
 * its clean-up with atexit() before it opens its session and logs in, so the clean-up runs after
 * libp11logout's exit handler, and it checks every return value.
 *
 * Usage: cleanup-prog MODULE PIN [SCENARIO]
 *   plain    (default) log in on the first slot with a token, exit
 *   midway   after the login, call OPENSSL_cleanup() when the process has
 *            one (libp11logout preloaded: it releases the login then),
 *            log out and close; then open a session, log in again, exit
 *   reuse    as midway, but the session is not closed: after the logout
 *            a new session is opened and closed (a module that reuses
 *            handles gives the released one back: it must be real again)
 *   relogin  the clean-up logs in again on a new session after its own
 *            logout, and leaves that login (and the module) as it is
 * The clean-up logs out, closes its session and calls C_Finalize (not in
 * relogin).  Each call and its result go to stdout; any result other than
 * CKR_OK ends the program with status 5. */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver-common.h"

typedef CK_RV (*slot_list_fn)(CK_BYTE, CK_SLOT_ID *, CK_ULONG *);

static CK_FUNCTION_LIST *fl;
static CK_SLOT_ID slot;
static CK_SESSION_HANDLE h;
static const char *pin, *scenario = "plain";

#define CALL(name) DRIVER_CALL(fl, name)

static void must(const char *what, CK_RV rv)
{
	printf("%s -> 0x%lx\n", what, rv);
	if (rv != CKR_OK) {
		fflush(stdout);
		_exit(5);
	}
}

static void open_session(void)
{
	must("C_OpenSession", CALL(C_OpenSession)(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
						  NULL, NULL, &h));
}

static void login(const char *what)
{
	must(what, CALL(C_Login)(h, CKU_USER, (CK_UTF8CHAR *)pin, strlen(pin)));
}

static void cleanup(void)
{
	printf("clean-up\n");
	must("C_Logout", CALL(C_Logout)(h));
	must("C_CloseSession", CALL(C_CloseSession)(h));
	if (strcmp(scenario, "relogin") == 0) {
		open_session();
		login("C_Login in the clean-up");
	} else {
		must("C_Finalize", CALL(C_Finalize)(NULL));
	}
	fflush(stdout);
}

int main(int argc, char **argv)
{
	CK_SLOT_ID slots[16];
	CK_ULONG n = 16;
	CK_C_GetFunctionList gfl;

	if (argc < 3) {
		fprintf(stderr, "usage: cleanup-prog MODULE PIN [plain|midway|relogin]\n");
		return 2;
	}
	pin = argv[2];
	if (argc > 3)
		scenario = argv[3];
	gfl = (CK_C_GetFunctionList)driver_sym(driver_dlopen("cleanup-prog", argv[1]),
					       "C_GetFunctionList");
	if (!gfl)
		return 1;
	must("C_GetFunctionList", gfl(&fl));
	must("C_Initialize", CALL(C_Initialize)(NULL));
	must("C_GetSlotList", ((slot_list_fn)fl->fn[P11L_C_GetSlotList])(1, slots, &n));
	if (n == 0)
		must("no slot with a token", CKR_SLOT_ID_INVALID);
	slot = slots[0];
	/* Before the first session: in modes close and finalize the library's
	 * handler is registered at the first session, and runs before this. */
	if (atexit(cleanup) != 0)
		return 1;
	open_session();
	login("C_Login");
	if (strcmp(scenario, "midway") == 0 || strcmp(scenario, "reuse") == 0) {
		p11l_fn openssl_cleanup = driver_sym(RTLD_DEFAULT, "OPENSSL_cleanup");

		if (openssl_cleanup)
			openssl_cleanup();
		must("C_Logout", CALL(C_Logout)(h));
		if (strcmp(scenario, "reuse") == 0)
			open_session();
		must("C_CloseSession", CALL(C_CloseSession)(h));
		open_session();
		login("C_Login again");
	}
	return 0;
}
