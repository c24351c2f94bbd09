/* For wrapper-unload.sh (issue 9.5): the module wrapper, given a real
 * module that is no PKCS#11 module, must not keep it loaded.
 *
 * Usage: wrapper-unload WRAPPER NOT-A-MODULE  (P11LOGOUT_MODULE names the
 * latter).  Prints the getter's result and whether NOT-A-MODULE is still
 * loaded afterwards. */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "pkcs11-types.h"

int main(int argc, char **argv)
{
	CK_FUNCTION_LIST *fl = NULL;
	CK_C_GetFunctionList gfl;
	void *w, *sym;

	if (argc != 3)
		return 2;
	w = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	sym = w ? dlsym(w, "C_GetFunctionList") : NULL;
	memcpy(&gfl, &sym, sizeof gfl);
	if (!gfl) {
		fprintf(stderr, "wrapper-unload: %s\n", dlerror());
		return 1;
	}
	printf("C_GetFunctionList -> 0x%lx\n", gfl(&fl));
	printf("%s\n", dlopen(argv[2], RTLD_NOW | RTLD_NOLOAD) ? "still loaded" : "unloaded");
	return 0;
}
