/* Diagnostics go to standard error only, one whole line per write(2) so
 * that lines from several processes or threads do not interleave.  Nothing
 * is ever written to standard output, and no PIN ever reaches here. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
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

/* P11LOGOUT_LOG=syslog: the same lines, to the system log, with our own
 * ident.  Written to /dev/log directly rather than through openlog(),
 * which would change the ident and options of the program's own syslog. */
static int syslog_fd = -1;

static void emit_syslog(const char *fmt, va_list ap)
{
	/* LOG_AUTH (4 << 3) | LOG_INFO (6): logins are authentication events. */
	static const int priority = (4 << 3) | 6;
	struct sockaddr_un addr = { .sun_family = AF_UNIX, .sun_path = "/dev/log" };
	char line[600];
	int n, len, saved = errno;
	int fd = __atomic_load_n(&syslog_fd, __ATOMIC_ACQUIRE);

	if (fd < 0) {
		int fresh = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fresh < 0) {
			errno = saved;
			return;
		}
		if (connect(fresh, (struct sockaddr *)&addr, sizeof addr) != 0) {
			close(fresh);
			errno = saved;
			return;
		}
		int expected = -1;
		if (__atomic_compare_exchange_n(&syslog_fd, &expected, fresh, 0,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			fd = fresh;
		} else {
			close(fresh);
			fd = expected;
		}
	}
	len = snprintf(line, sizeof line, "<%d>libp11logout[%ld]: ", priority,
		       (long)getpid());
	if (len < 0 || (size_t)len >= sizeof line) {
		errno = saved;
		return;
	}
	n = vsnprintf(line + len, sizeof line - (size_t)len, fmt, ap);
	if (n > 0)
		len += (size_t)n < sizeof line - (size_t)len ? n : (int)(sizeof line - (size_t)len - 1);
	while (send(fd, line, (size_t)len, MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
	errno = saved;
}

void p11l_log(const char *fmt, ...)
{
	const struct p11l_config *c = p11l_config();
	va_list ap;

	if (!c->debug && !c->log_syslog)
		return;
	va_start(ap, fmt);
	if (c->log_syslog)
		emit_syslog(fmt, ap);
	else
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
