/* A program that initialises OpenSSL, logs in to a module whose C_Logout
 * needs libcrypto (odd-crypto-module.so), and calls OPENSSL_cleanup()
 * itself before it exits, as some applications do.
 *
 * Usage: ossl-driver MODULE SCENARIO
 *   version      print the major version of the libcrypto it runs with
 *   cleanup      log in, OPENSSL_cleanup(), exit
 *   late-logout  log in, OPENSSL_cleanup(), then C_Logout itself
 *   fini-logout  log in, OPENSSL_cleanup(), exit, and C_Logout from
 *                libfini-hook's destructor, after libcrypto's (where
 *                OpenSSL 4 tears down)
 *   bypass       log in, call libcrypto's own OPENSSL_cleanup (found in
 *                libcrypto's handle, so no interposer sees it), exit
 *   probe        an HMAC before and after OPENSSL_cleanup(): shows
 *                whether libcrypto can compute one any more (OpenSSL 3
 *                cannot; OpenSSL 4 only sets a flag there)
 *   probe-raw    the same without asking OPENSSL_init_crypto first: a
 *                crash with OpenSSL 3.0
 *   probe-fini   an HMAC before OPENSSL_cleanup() and from libfini-hook's
 *                destructor, after libcrypto's
 *
 * stdout depends only on what OpenSSL and the module answer; "driver
 * exit" (every test driver's last line) goes to $ODD_LOG just before
 * exit(). */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "driver-common.h"
#include "fini-hook.h"

static CK_FUNCTION_LIST *fl;
static CK_SESSION_HANDLE h;

/* As the module does: OpenSSL 3.0's EVP_Q_mac crashes after
 * OPENSSL_cleanup(), so OPENSSL_init_crypto (0 then) is asked first,
 * unless RAW, which shows that crash. */
static int mac_works(int raw)
{
	static const unsigned char key[16] = "k";
	unsigned char out[64];
	size_t len = 0;

	if (!raw && !OPENSSL_init_crypto(0, NULL))
		return 0;
	return EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, sizeof key,
			 (const unsigned char *)"x", 1, out, sizeof out, &len) != NULL;
}

static void fini_probe(void)
{
	printf("HMAC after libcrypto's destructor: %s\n",
	       mac_works(0) ? "ok" : "fails");
}

static void fini_logout(void)
{
	printf("C_Logout after libcrypto's destructor: 0x%lx\n",
	       DRIVER_CALL(fl, C_Logout)(h));
}

/* libcrypto's own OPENSSL_cleanup, whichever libcrypto this program runs
 * with: a lookup in the handle of the object that defines OpenSSL_version
 * (which nothing interposes). */
static p11l_fn real_openssl_cleanup(void)
{
	Dl_info info;
	void *v = dlsym(RTLD_DEFAULT, "OpenSSL_version"), *lc;

	if (v == NULL || dladdr(v, &info) == 0 || info.dli_fname == NULL)
		return NULL;
	lc = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD);
	return lc ? driver_sym(lc, "OPENSSL_cleanup") : NULL;
}

int main(int argc, char **argv)
{
	const char *sc;
	CK_C_GetFunctionList g;
	CK_RV rv;

	if (argc != 3) {
		fprintf(stderr, "usage: ossl-driver MODULE SCENARIO\n");
		return 2;
	}
	sc = argv[2];
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!OPENSSL_init_crypto(0, NULL)) {
		fprintf(stderr, "ossl-driver: OPENSSL_init_crypto failed\n");
		return 1;
	}
	if (strcmp(sc, "version") == 0) {
		printf("%u\n", OPENSSL_version_major());
		return 0;
	}
	printf("HMAC before cleanup: %s\n", mac_works(0) ? "ok" : "fails");
	if (strcmp(sc, "probe-fini") == 0) {
		if (!fini_hook_load(fini_probe))
			return 1;
		OPENSSL_cleanup();
		return 0;
	}
	if (strcmp(sc, "probe") == 0 || strcmp(sc, "probe-raw") == 0) {
		OPENSSL_cleanup();
		printf("HMAC after cleanup: %s\n",
		       mac_works(strcmp(sc, "probe-raw") == 0) ? "ok" : "fails");
		return 0;
	}

	g = (CK_C_GetFunctionList)driver_sym(driver_dlopen("ossl-driver", argv[1]),
					     "C_GetFunctionList");
	if (!g || g(&fl) != CKR_OK || !fl ||
	    DRIVER_CALL(fl, C_Initialize)(NULL) != CKR_OK)
		return 1;
	rv = driver_login(fl, 1, CKF_SERIAL_SESSION, "1234", &h);
	printf("C_Login: 0x%lx\n", rv);

	if (strcmp(sc, "bypass") == 0) {
		p11l_fn real_cleanup = real_openssl_cleanup();

		if (!real_cleanup) {
			fprintf(stderr, "ossl-driver: libcrypto's OPENSSL_cleanup not found\n");
			return 1;
		}
		real_cleanup();
	} else {
		if (strcmp(sc, "fini-logout") == 0 && !fini_hook_load(fini_logout))
			return 1;
		OPENSSL_cleanup();
	}
	driver_log("ODD_LOG", "driver: cleanup done");
	if (strcmp(sc, "late-logout") == 0) {
		rv = DRIVER_CALL(fl, C_Logout)(h);
		printf("C_Logout after cleanup: 0x%lx\n", rv);
	}
	driver_log("ODD_LOG", "driver exit");
	exit(0);
}
