/* A program that initialises OpenSSL, logs in to a module whose C_Logout
 * needs libcrypto (odd-crypto-module.so), and calls OPENSSL_cleanup()
 * itself before it exits, as some applications do.
 *
 * Usage: ossl-driver MODULE SCENARIO
 *   cleanup      log in, OPENSSL_cleanup(), exit
 *   late-logout  log in, OPENSSL_cleanup(), then C_Logout itself
 *   bypass       log in, call libcrypto's own OPENSSL_cleanup (found in
 *                libcrypto's handle, so no interposer sees it), exit
 *   probe        an HMAC before and after OPENSSL_cleanup(): shows that
 *                libcrypto cannot compute one any more
 *   probe-raw    the same without asking OPENSSL_init_crypto first: a
 *                crash with OpenSSL 3.0
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

int main(int argc, char **argv)
{
	const char *sc;
	CK_C_GetFunctionList g;
	CK_FUNCTION_LIST *fl = NULL;
	CK_SESSION_HANDLE h = 0;
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
	printf("HMAC before cleanup: %s\n", mac_works(0) ? "ok" : "fails");
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
		/* libcrypto's own definition: a lookup in its handle. */
		void *lc = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_NOLOAD);
		p11l_fn real_cleanup = lc ? driver_sym(lc, "OPENSSL_cleanup") : NULL;

		if (!real_cleanup) {
			fprintf(stderr, "ossl-driver: libcrypto's OPENSSL_cleanup not found\n");
			return 1;
		}
		real_cleanup();
	} else {
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
