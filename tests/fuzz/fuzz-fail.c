/* A broken promise: said on stderr, then abort(), so that libFuzzer keeps
 * the input and the replay in make check fails. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz-target.h"

void p11l_fuzz_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("fuzz: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}
