/* Runs a fuzz target over corpus files, without libFuzzer: what make check
 * builds with any compiler, so that every input the fuzzers kept (seeds
 * and the regression cases of fixed findings) is replayed on every build.
 * Prints TAP, one line per file; a broken promise aborts the run. */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz-target.h"

int main(int argc, char **argv)
{
	printf("1..%d\n", argc - 1);
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		unsigned char *buf = NULL;
		size_t len = 0, cap = 0, n;

		if (!f) {
			printf("not ok %d - %s: cannot open\n", i, argv[i]);
			continue;
		}
		do {
			if (len == cap) {
				cap = cap ? cap * 2 : 4096;
				buf = realloc(buf, cap);
				if (!buf)
					abort();
			}
			n = fread(buf + len, 1, cap - len, f);
			len += n;
		} while (n > 0);
		fclose(f);
		fflush(stdout);
		LLVMFuzzerTestOneInput(buf, len);
		printf("ok %d - %s\n", i, argv[i]);
		free(buf);
	}
	return 0;
}
