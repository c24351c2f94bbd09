/* Linked with libp11logout.so itself (a setgid program ignores LD_PRELOAD
 * paths), so that the library is there when it runs setgid.  It prints
 * AT_SECURE from its auxiliary vector, whether the module's getter came
 * back wrapped by the library, and logs in to slot 1 of MODULE; then
 * writes "driver exit" to $ODD_LOG and returns from main.
 *
 * Usage: secure-prog MODULE */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>

#include "driver-common.h"

int main(int argc, char **argv)
{
	CK_C_GetFunctionList g;
	CK_FUNCTION_LIST *fl = NULL;
	CK_SESSION_HANDLE h = 0;
	Dl_info info;
	void *sym;
	CK_RV rv;

	if (argc != 2)
		return 2;
	printf("AT_SECURE=%lu\n", getauxval(AT_SECURE));
	/* dlsym's own answer: dladdr names the object that holds it. */
	sym = dlsym(driver_dlopen("secure-prog", argv[1]), "C_GetFunctionList");
	if (!sym)
		return 1;
	printf("getter wrapped by libp11logout: %s\n",
	       dladdr(sym, &info) && info.dli_fname &&
	       strstr(info.dli_fname, "libp11logout") ? "yes" : "no");
	memcpy(&g, &sym, sizeof g);
	if (g(&fl) != CKR_OK || !fl ||
	    DRIVER_CALL(fl, C_Initialize)(NULL) != CKR_OK)
		return 1;
	rv = driver_login(fl, 1, CKF_SERIAL_SESSION, "1234", &h);
	printf("C_Login: 0x%lx\n", rv);
	fflush(stdout);
	/* What the module gets after this line, it gets at exit. */
	driver_log("ODD_LOG", "driver exit");
	return 0;
}
