/* A preload library in the RTLD_NEXT chain: appends "b>" and forwards to
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
		append(buf, size, "LOOP(b)");
		return;
	}
	busy = 1;
	append(buf, size, "b>");
	p = dlsym(RTLD_NEXT, "p11l_chain");
	if (p == NULL) {
		append(buf, size, "NULL");
	} else {
		memcpy(&next, &p, sizeof next);
		next(buf, size);
	}
	busy = 0;
}
