/* Diagnostics go to standard error only, one whole line per write(2) so
 * that lines from several processes or threads do not interleave.  Nothing
 * is ever written to standard output, and no PIN ever reaches here. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "p11logout.h"

static void emit(const char *fmt, va_list ap)
{
	char line[512];
	const size_t prefix = sizeof "libp11logout: " - 1;
	int n, saved = errno;
	size_t len;

	memcpy(line, "libp11logout: ", prefix);
	n = vsnprintf(line + prefix, sizeof line - prefix - 1, fmt, ap);
	if (n < 0)
		n = 0;
	len = prefix + ((size_t)n < sizeof line - prefix - 1 ?
			(size_t)n : sizeof line - prefix - 2);
	line[len++] = '\n';
	for (size_t off = 0; off < len;) {
		ssize_t w = write(STDERR_FILENO, line + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	errno = saved;
}

void p11l_log(const char *fmt, ...)
{
	va_list ap;

	if (!p11l_config()->debug)
		return;
	va_start(ap, fmt);
	emit(fmt, ap);
	va_end(ap);
}

void p11l_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(fmt, ap);
	va_end(ap);
}
