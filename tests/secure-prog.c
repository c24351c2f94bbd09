/* Linked with libp11logout.so itself (a setgid program ignores LD_PRELOAD
 * paths), so that the library is there when it runs setgid.  It prints
 * AT_SECURE from its auxiliary vector, whether the module's getter came
 * back wrapped by the library, and logs in to slot 1 of MODULE; then
 * writes "driver exit" to $ODD_LOG and returns from main.
 *
 * Usage: secure-prog MODULE */
#include "config.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "pkcs11-types.h"

int main(int argc, char **argv)
{
	CK_C_GetFunctionList g;
	CK_FUNCTION_LIST *fl = NULL;
	CK_SESSION_HANDLE h = 0;
	Dl_info info;
	void *mod, *sym;
	CK_RV rv;

	if (argc != 2)
		return 2;
	printf("AT_SECURE=%lu\n", getauxval(AT_SECURE));
	mod = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!mod) {
		fprintf(stderr, "secure-prog: %s\n", dlerror());
		return 1;
	}
	sym = dlsym(mod, "C_GetFunctionList");
	if (!sym)
		return 1;
	printf("getter wrapped by libp11logout: %s\n",
	       dladdr(sym, &info) && info.dli_fname &&
	       strstr(info.dli_fname, "libp11logout") ? "yes" : "no");
	memcpy(&g, &sym, sizeof g);
	if (g(&fl) != CKR_OK || !fl)
		return 1;
	if (((CK_C_Initialize)fl->fn[P11L_C_Initialize])(NULL) != CKR_OK)
		return 1;
	if (((CK_C_OpenSession)fl->fn[P11L_C_OpenSession])(1, CKF_SERIAL_SESSION,
							    NULL, NULL, &h) != CKR_OK)
		return 1;
	rv = ((CK_C_Login)fl->fn[P11L_C_Login])(h, CKU_USER, (CK_UTF8CHAR *)"1234", 4);
	printf("C_Login: 0x%lx\n", rv);
	fflush(stdout);
	/* What the module gets after this line, it gets at exit. */
	const char *log = getenv("ODD_LOG");
	int fd = log ? open(log, O_WRONLY | O_APPEND) : -1;
	if (fd >= 0) {
		if (write(fd, "driver exit\n", 12) != 12)
			perror("secure-prog: log");
		close(fd);
	}
	return 0;
}
