/* The program of cleanup-versions.sh and cleanup-then-sign.sh: a PKCS#11
 * login, then OPENSSL_cleanup() through each version a caller binds to.
 * Built twice: cleanup-two-cryptos is linked with libp11l-fakecrypto3.so
 * (its own calls bind OPENSSL_cleanup@OPENSSL_3.0.0) and with
 * libp11l-fakecrypto-user4.so, a library linked with
 * libp11l-fakecrypto4.so (FAKECRYPTO_USER4); cleanup-crypto4 with
 * libp11l-fakecrypto4.so alone (its calls bind @OPENSSL_4.0.0).
 *
 * Usage: PROG MODULE PIN STEP...
 *   login      C_Initialize, a session on the first slot, C_Login
 *   use        C_GetSessionInfo: the session must still be logged in, as
 *              a signature with the session's key needs (the stand-in for
 *              a signature: the fake module has no keys)
 *   cleanup    the program's own OPENSSL_cleanup()
 *   cleanup4   (cleanup-two-cryptos) the 4.0 library's OPENSSL_cleanup()
 *   dlsym      OPENSSL_cleanup as dlsym(RTLD_DEFAULT, ...) finds it
 * Each step prints one line.  The exit status is 1 when a use found the
 * session logged out, 2 on a usage error, 0 otherwise; the last line added
 * to the module's log is "driver exit". */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "driver-common.h"

void OPENSSL_cleanup(void);
#ifdef FAKECRYPTO_USER4
void fakecrypto_user4_cleanup(void);
#endif

typedef CK_RV (*slot_list_fn)(CK_BYTE, CK_SLOT_ID *, CK_ULONG *);

#define CALL(name) DRIVER_CALL(fl, name)

static CK_FUNCTION_LIST *fl;
static CK_SESSION_HANDLE h;

static int login(const char *module, const char *pin)
{
	CK_C_GetFunctionList gfl;
	CK_SLOT_ID slots[8];
	CK_ULONG n = 8;
	CK_RV rv;

	gfl = (CK_C_GetFunctionList)driver_sym(driver_dlopen("cleanup-versions-prog", module),
					       "C_GetFunctionList");
	if (!gfl || gfl(&fl) != CKR_OK || CALL(C_Initialize)(NULL) != CKR_OK ||
	    ((slot_list_fn)fl->fn[P11L_C_GetSlotList])(1, slots, &n) != CKR_OK || n == 0)
		return 0;
	rv = driver_login(fl, slots[0], CKF_SERIAL_SESSION | CKF_RW_SESSION, pin, &h);
	printf("login -> 0x%lx\n", rv);
	return rv == CKR_OK;
}

/* CKS_RO_USER_FUNCTIONS (1) or CKS_RW_USER_FUNCTIONS (3). */
static int use(void)
{
	CK_SESSION_INFO info;
	CK_RV rv = CALL(C_GetSessionInfo)(h, &info);
	int in = rv == CKR_OK && (info.state == 1 || info.state == 3);

	printf("use -> 0x%lx, %s\n", rv, in ? "logged in" : "not logged in");
	return in;
}

int main(int argc, char **argv)
{
	int status = 0;

	if (argc < 4) {
		fprintf(stderr, "usage: cleanup-versions-prog MODULE PIN STEP...\n");
		return 2;
	}
	for (int i = 3; i < argc; i++) {
		const char *s = argv[i];

		if (strcmp(s, "login") == 0) {
			if (!login(argv[1], argv[2]))
				return 2;
		} else if (strcmp(s, "use") == 0) {
			if (!use())
				status = 1;
		} else if (strcmp(s, "cleanup") == 0) {
			OPENSSL_cleanup();
			printf("cleanup\n");
#ifdef FAKECRYPTO_USER4
		} else if (strcmp(s, "cleanup4") == 0) {
			fakecrypto_user4_cleanup();
			printf("cleanup4\n");
#endif
		} else if (strcmp(s, "dlsym") == 0) {
			p11l_fn f = driver_sym(RTLD_DEFAULT, "OPENSSL_cleanup");

			if (f)
				f();
			printf("dlsym: %s\n", f ? "called" : "none");
		} else {
			fprintf(stderr, "cleanup-versions-prog: unknown step %s\n", s);
			return 2;
		}
	}
	fflush(stdout);
	driver_log("FAKE_LOG", "driver exit");
	return status;
}
