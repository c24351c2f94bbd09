/* Times dlsym for a name that is not a PKCS#11 getter: the cost every
 * program pays for the interposed dlsym.  Prints nanoseconds per call. */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	void *h = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	struct timespec a, b;
	volatile void *sink = NULL;

	if (!h || n <= 0) {
		fprintf(stderr, "bench-dlsym: cannot open libc.so.6\n");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++)
		sink = dlsym(h, "strlen");
	clock_gettime(CLOCK_MONOTONIC, &b);
	(void)sink;
	printf("%.2f\n", ((double)(b.tv_sec - a.tv_sec) * 1e9 +
			  (double)(b.tv_nsec - a.tv_nsec)) / (double)n);
	return 0;
}
