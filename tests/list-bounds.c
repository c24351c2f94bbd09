/* A program for list-bounds.sh: reads function lists the way a careful
 * PKCS#11 consumer does, and logs in.
 *
 * Usage: list-bounds MODULE SCENARIO
 *   gfl    C_GetFunctionList only: prints the version the list claims, logs
 *          in on slot 1 and exits without logging out.  Nothing past the
 *          2.x entries is read here, whatever the version says.
 *   split  the 2.x list from C_GetFunctionList and the 3.0 list from
 *          C_GetInterface: logs in and out through each, then logs in
 *          through the 2.x list again and exits.
 * Prints each call and its result; exits 1 on any unexpected result, and
 * appends "driver exit" to $FAKE_LOG just before it exits. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver-common.h"

#define PIN "s3cr3t-PIN-4711"

static int failed;

static CK_RV expect(const char *what, CK_RV rv, CK_RV want)
{
	printf("%s -> 0x%lx\n", what, rv);
	if (rv != want) {
		fprintf(stderr, "list-bounds: %s: 0x%lx, expected 0x%lx\n", what, rv, want);
		failed = 1;
	}
	return rv;
}

static void driver_exit(void)
{
	fflush(stdout);
	driver_log("FAKE_LOG", "driver exit");
	exit(failed);
}

static void login(const CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE h, const char *what)
{
	expect(what, DRIVER_CALL(fl, C_Login)(h, CKU_USER, (CK_UTF8CHAR *)PIN,
				       sizeof PIN - 1), CKR_OK);
}

int main(int argc, char **argv)
{
	CK_FUNCTION_LIST *fl = NULL, *fl3;
	CK_INTERFACE *iface = NULL;
	CK_VERSION v30 = { 3, 0 };
	CK_SESSION_HANDLE h = 0, h3 = 0;
	void *mod;
	CK_C_GetFunctionList gfl;
	CK_C_GetInterface gi;

	if (argc != 3) {
		fprintf(stderr, "usage: list-bounds MODULE gfl|split\n");
		return 2;
	}
	mod = driver_dlopen("list-bounds", argv[1]);
	gfl = (CK_C_GetFunctionList)driver_sym(mod, "C_GetFunctionList");
	if (!gfl || expect("C_GetFunctionList", gfl(&fl), CKR_OK) != CKR_OK || !fl)
		return 1;
	printf("C_GetFunctionList list claims %u.%u\n", fl->version.major,
	       fl->version.minor);
	expect("C_Initialize", DRIVER_CALL(fl, C_Initialize)(NULL), CKR_OK);
	expect("C_OpenSession",
	       DRIVER_CALL(fl, C_OpenSession)(1, CKF_SERIAL_SESSION, NULL, NULL, &h),
	       CKR_OK);
	if (strcmp(argv[2], "gfl") == 0) {
		login(fl, h, "C_Login");
		driver_exit();
	}
	if (strcmp(argv[2], "split") != 0) {
		fprintf(stderr, "list-bounds: unknown scenario %s\n", argv[2]);
		return 2;
	}
	gi = (CK_C_GetInterface)driver_sym(mod, "C_GetInterface");
	if (!gi || expect("C_GetInterface 3.0",
			  gi((CK_UTF8CHAR *)P11L_INTERFACE_NAME, &v30, &iface, 0),
			  CKR_OK) != CKR_OK || !iface)
		return 1;
	fl3 = iface->pFunctionList;
	expect("C_OpenSession 3.0",
	       DRIVER_CALL(fl3, C_OpenSession)(1, CKF_SERIAL_SESSION, NULL, NULL, &h3),
	       CKR_OK);
	login(fl, h, "C_Login 2.x");
	expect("C_Logout 2.x", DRIVER_CALL(fl, C_Logout)(h), CKR_OK);
	login(fl3, h3, "C_Login 3.0");
	expect("C_Logout 3.0", DRIVER_CALL(fl3, C_Logout)(h3), CKR_OK);
	expect("C_CloseSession 3.0", DRIVER_CALL(fl3, C_CloseSession)(h3), CKR_OK);
	login(fl, h, "C_Login 2.x again");
	driver_exit();
	return 0;
}
