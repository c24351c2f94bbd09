/* A preload library in the RTLD_NEXT chain: appends "a>" and forwards to
 * the definition that follows it in the lookup order. */
#include "config.h"

#include <dlfcn.h>
#include <string.h>

#include "rtld-next-chain.h"

static void append(char *buf, size_t size, const char *s)
{
	size_t n = strlen(buf);

	if (n < size)
		strncat(buf, s, size - n - 1);
}

RTLD_NEXT_EXPORT void p11l_chain(char *buf, size_t size)
{
	/* Entered again before returning: RTLD_NEXT found this library
	 * again (or one before it), i.e. it was resolved relative to the
	 * wrong object.  Stop rather than recurse forever. */
	static int busy;
	p11l_chain_fn next;
	void *p;

	if (busy) {
		append(buf, size, "LOOP(a)");
		return;
	}
	busy = 1;
	append(buf, size, "a>");
	p = dlsym(RTLD_NEXT, "p11l_chain");
	if (p == NULL) {
		append(buf, size, "NULL");
	} else {
		memcpy(&next, &p, sizeof next);
		next(buf, size);
	}
	busy = 0;
}

/* The file that defines the dlsym that dlsym(RTLD_NEXT, "dlsym") finds
 * from this library: libp11logout.so when it comes after this library,
 * libc otherwise. */
RTLD_NEXT_EXPORT const char *p11l_chain_a_next_dlsym(void)
{
	Dl_info info;
	void *p = dlsym(RTLD_NEXT, "dlsym");

	if (p == NULL)
		return "NULL";
	if (dladdr(p, &info) == 0 || info.dli_fname == NULL)
		return "unknown";
	return info.dli_fname;
}
