/* The program of the exit-release tests (exit-release.sh, signal-release.sh):
 * it logs in to a PKCS#11 module (normally odd-module.so) and then ends in
 * the way its scenario names, never logging out itself.
 *
 * Usage: exit-driver SCENARIO MODULE [ARG]
 *   cleanup MODULE SLOTS MS  log in to slots 1..SLOTS, call OPENSSL_cleanup()
 *                            if the process has one, wait MS ms, exit
 *   exit MODULE SLOTS MS     the same without OPENSSL_cleanup()
 *   quick MODULE             log in, quick_exit()
 *   wait MODULE              log in, then wait for a signal
 *   locked MODULE            log in, then call C_GetInfo (which, with
 *                            ODD_MODE=info-hang-locked, never returns and
 *                            holds the module's lock)
 *   own MODULE               install a SIGTERM handler of its own (it says
 *                            "own handler" and _exit(3)s), log in, wait
 *
 * Lines go to $ODD_LOG: "driver: logged in" once the login is done,
 * "driver: cleanup returned", and "driver exit" (every test driver's last
 * line) just before the process ends.  stdout holds
 * what the module answered.  Exit status: $ROBUST_EXIT (default 0). */
#include "config.h"

#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "driver-common.h"

typedef CK_RV (*info_fn)(void *);

static CK_FUNCTION_LIST *fl;

static void mark(const char *what)
{
	driver_log("ODD_LOG", what);
}

static int status(void)
{
	const char *v = getenv("ROBUST_EXIT");

	return v ? atoi(v) : 0;
}

static void login(const char *path, CK_SLOT_ID slots)
{
	CK_C_GetFunctionList get = (CK_C_GetFunctionList)driver_sym(
		driver_dlopen("exit-driver", path), "C_GetFunctionList");

	if (!get) {
		fprintf(stderr, "exit-driver: no C_GetFunctionList in %s\n", path);
		exit(1);
	}
	if (get(&fl) != CKR_OK || DRIVER_CALL(fl, C_Initialize)(NULL) != CKR_OK) {
		fprintf(stderr, "exit-driver: C_Initialize failed\n");
		exit(1);
	}
	for (CK_SLOT_ID slot = 1; slot <= slots; slot++) {
		CK_SESSION_HANDLE s;

		printf("slot %lu: C_Login: 0x%lx\n", slot,
		       driver_login(fl, slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
				    "123456", &s));
	}
	fflush(stdout);
	mark("driver: logged in");
}

static void own_handler(int sig)
{
	(void)sig;
	if (write(STDOUT_FILENO, "own handler\n", 12) < 0)
		_exit(4);
	_exit(3);
}

int main(int argc, char **argv)
{
	const char *sc = argc > 2 ? argv[1] : "";

	if ((strcmp(sc, "cleanup") == 0 || strcmp(sc, "exit") == 0) && argc == 5) {
		p11l_fn cleanup;
		long ms = atol(argv[4]);
		struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };

		login(argv[2], (CK_SLOT_ID)atol(argv[3]));
		cleanup = strcmp(sc, "cleanup") == 0 ?
			driver_sym(RTLD_DEFAULT, "OPENSSL_cleanup") : NULL;
		if (cleanup)
			cleanup();
		mark("driver: cleanup returned");
		nanosleep(&t, NULL);
		/* Left in stdio's buffer: exit() writes it out. */
		printf("done\n");
		mark("driver exit");
		exit(status());
	} else if (strcmp(sc, "quick") == 0) {
		login(argv[2], 1);
		printf("quick_exit\n");
		fflush(stdout);
		mark("driver exit");
		quick_exit(status());
	} else if (strcmp(sc, "wait") == 0 || strcmp(sc, "own") == 0) {
		if (strcmp(sc, "own") == 0) {
			struct sigaction sa;

			memset(&sa, 0, sizeof sa);
			sa.sa_handler = own_handler;
			sigemptyset(&sa.sa_mask);
			sigaction(SIGTERM, &sa, NULL);
		}
		login(argv[2], 1);
		for (;;)
			pause();
	} else if (strcmp(sc, "locked") == 0) {
		char info[256];

		login(argv[2], 1);
		((info_fn)fl->fn[P11L_C_GetInfo])(info);
		mark("driver: C_GetInfo returned");
		return status();
	}
	fprintf(stderr, "usage: exit-driver cleanup|quick|wait|locked|own MODULE [ARGS]\n");
	return 2;
}
