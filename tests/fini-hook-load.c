/* fini_hook_load: see fini-hook.h.  The library is dlopen()ed, not linked:
 * glibc runs the destructors of objects that do not depend on each other
 * in the reverse order of their loading (of its depth-first sort of the
 * link map list), and a PKCS#11 module dlopen()ed before it, which needs
 * libcrypto, would otherwise put libcrypto's destructor after this one.
 * Loaded after everything else, and needing only libc, it is finalized
 * after libcrypto; the callers still check that libcrypto is gone. */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "fini-hook.h"

int fini_hook_load(void (*fn)(void))
{
	void *h = dlopen(FINI_HOOK_PATH, RTLD_NOW | RTLD_LOCAL);
	void *sym = h ? dlsym(h, "fini_hook_set") : NULL;
	void (*set)(void (*)(void));

	if (sym == NULL) {
		fprintf(stderr, "fini_hook_load: %s\n", dlerror());
		return 0;
	}
	memcpy(&set, &sym, sizeof set);
	set(fn);
	return 1;
}
