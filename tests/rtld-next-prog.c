/* Calls the chained function directly, then through dlsym(RTLD_NEXT, ...)
 * made by the program itself, and prints where dlsym(RTLD_NEXT, "dlsym")
 * leads from rtld-next-a when that library is loaded. */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "rtld-next-chain.h"

static const char *base(const char *path)
{
	const char *s = strrchr(path, '/');

	return s != NULL ? s + 1 : path;
}

int main(void)
{
	char buf[256] = "";
	p11l_chain_fn next;
	void *p;

	p11l_chain(buf, sizeof buf);
	printf("direct: %s\n", buf);

	buf[0] = '\0';
	p = dlsym(RTLD_NEXT, "p11l_chain");
	if (p == NULL) {
		printf("next: NULL\n");
	} else {
		memcpy(&next, &p, sizeof next);
		next(buf, sizeof buf);
		printf("next: %s\n", buf);
	}

	p = dlsym(RTLD_DEFAULT, "p11l_chain_a_next_dlsym");
	if (p != NULL) {
		const char *(*owner)(void);

		memcpy(&owner, &p, sizeof owner);
		printf("a-next-dlsym: %s\n", base(owner()));
	}
	return 0;
}
