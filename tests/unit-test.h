/* In-process unit tests of the library's own objects (linked against
 * libp11logout-core): TAP on stdout, one line per check, the plan at the
 * end.  For what a shell test reaches only the long way round: the
 * config parser's table of lines, the record's stamp rule, the list
 * sizes.  The end-to-end tests stay; these say which rule broke. */
#ifndef P11L_UNIT_TEST_H
#define P11L_UNIT_TEST_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int unit_n, unit_failed;

#define UNIT_UNUSED __attribute__((unused))

UNIT_UNUSED __attribute__((format(printf, 2, 3)))
static int unit_check(int cond, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", cond ? "" : "not ", ++unit_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!cond)
		unit_failed = 1;
	return cond;
}

UNIT_UNUSED static int unit_done(void)
{
	printf("1..%d\n", unit_n);
	return unit_failed;
}

/* Every test starts from no settings of the host's: an empty file, no
 * P11LOGOUT_* but what the test sets. */
UNIT_UNUSED static void unit_hermetic(const char *empty_file)
{
	FILE *f = fopen(empty_file, "w");

	if (!f) {
		printf("Bail out! cannot create %s\n", empty_file);
		exit(1);
	}
	fclose(f);
	setenv("P11LOGOUT_CONFIG", empty_file, 1);
}

#endif
