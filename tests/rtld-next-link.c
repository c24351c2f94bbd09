/* A preload library in the RTLD_NEXT chain: appends its letter and ">"
 * and forwards to the definition that follows it in the lookup order.
 * Built once per link of the chain, with -DCHAIN_LETTER=a or b. */
#include "config.h"

#include <dlfcn.h>
#include <string.h>

#include "rtld-next-chain.h"

#define CHAIN_STR2(x) #x
#define CHAIN_STR(x) CHAIN_STR2(x)
#define CHAIN_NAME2(l) p11l_chain_##l##_next_dlsym
#define CHAIN_NAME(l) CHAIN_NAME2(l)

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
		append(buf, size, "LOOP(" CHAIN_STR(CHAIN_LETTER) ")");
		return;
	}
	busy = 1;
	append(buf, size, CHAIN_STR(CHAIN_LETTER) ">");
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
 * libc otherwise.  (rtld-next-prog asks link a's.) */
RTLD_NEXT_EXPORT const char *CHAIN_NAME(CHAIN_LETTER)(void);
RTLD_NEXT_EXPORT const char *CHAIN_NAME(CHAIN_LETTER)(void)
{
	Dl_info info;
	void *p = dlsym(RTLD_NEXT, "dlsym");

	if (p == NULL)
		return "NULL";
	if (dladdr(p, &info) == 0 || info.dli_fname == NULL)
		return "unknown";
	return info.dli_fname;
}
