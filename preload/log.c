/* Diagnostics go to standard error, or with P11LOGOUT_LOG=syslog to the
 * system log; one whole line per write(2) or datagram, so that lines from
 * several processes or threads do not interleave.  Nothing is ever written
 * to standard output, and no PIN ever reaches here. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "p11logout.h"
#include "libc-late.h"

/* A value, path or module name may hold a newline or an escape sequence:
 * shown as '?', so that it can neither forge a line of ours nor hide one. */
static void tame(char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			s[i] = '?';
}

static void emit(const char *fmt, va_list ap)
{
	char line[512];
	const size_t prefix = sizeof "libp11logout: " - 1;
	int n, saved = errno;
	size_t len;

	/* Not memcpy: at -O0 a call, one more symbol version. */
	for (size_t i = 0; i < prefix; i++)
		line[i] = "libp11logout: "[i];
	/* vsnprintf is looked up at the first module (libc-late.h: on s390x
	 * its version is one more than the port's baseline).  Without it, the
	 * format as it is, which still says what went wrong. */
	if (p11l_libc.vsnprintf) {
		n = p11l_libc.vsnprintf(line + prefix, sizeof line - prefix - 1, fmt, ap);
	} else {
		for (n = 0; fmt[n] && (size_t)n < sizeof line - prefix - 2; n++)
			line[prefix + (size_t)n] = fmt[n];
	}
	if (n < 0)
		n = 0;
	len = prefix + ((size_t)n < sizeof line - prefix - 1 ?
			(size_t)n : sizeof line - prefix - 2);
	tame(line + prefix, len - prefix);
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
 * which would change the ident and options of the program's own syslog.
 *
 * The descriptor is the program's to close: a daemon that closes every
 * descriptor may get the same number for a socket of its own.  So before
 * each line it is checked to be still the socket we connected (same
 * inode), and otherwise a new one is connected; the old number, no longer
 * ours, is left alone. */
static pthread_mutex_t syslog_lock = PTHREAD_MUTEX_INITIALIZER;
static int syslog_fd = -1;
static dev_t syslog_dev;
static ino_t syslog_ino;

static int still_ours(int fd)
{
	struct stat st;

	return fd >= 0 && p11l_libc.fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) &&
	       st.st_dev == syslog_dev && st.st_ino == syslog_ino;
}

static int syslog_connect(void)
{
	static const char path[] = "/dev/log";
	struct sockaddr_un addr;
	struct stat st;
	int fd = p11l_libc.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	/* Byte by byte: an initialised sockaddr is a memcpy call at -O0, one
	 * more symbol version (tests/exports.sh). */
	addr.sun_family = AF_UNIX;
	for (size_t i = 0; i < sizeof path; i++)
		addr.sun_path[i] = path[i];
	if (p11l_libc.connect(fd, (struct sockaddr *)&addr,
			      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + sizeof path)) != 0 ||
	    p11l_libc.fstat(fd, &st) != 0) {
		close(fd);
		return -1;
	}
	syslog_dev = st.st_dev;
	syslog_ino = st.st_ino;
	return fd;
}

static void emit_syslog(const char *fmt, va_list ap)
{
	/* LOG_AUTH (4 << 3) | LOG_INFO (6): logins are authentication events. */
	static const int priority = (4 << 3) | 6;
	char line[600];
	int n, len, saved = errno;

	len = p11l_libc.snprintf(line, sizeof line, "<%d>libp11logout[%ld]: ", priority,
		       (long)getpid());
	if (len < 0 || (size_t)len >= sizeof line) {
		errno = saved;
		return;
	}
	n = p11l_libc.vsnprintf(line + len, sizeof line - (size_t)len, fmt, ap);
	if (n > 0)
		len += (size_t)n < sizeof line - (size_t)len ? n : (int)(sizeof line - (size_t)len - 1);
	tame(line, (size_t)len);
	pthread_mutex_lock(&syslog_lock);
	if (!still_ours(syslog_fd))
		syslog_fd = syslog_connect();
	if (syslog_fd >= 0)
		while (p11l_libc.send(syslog_fd, line, (size_t)len, MSG_NOSIGNAL) < 0 && errno == EINTR)
			;
	pthread_mutex_unlock(&syslog_lock);
	errno = saved;
}

/* Handed over by config.c once the settings are loaded, at the first
 * module; nothing is logged before (nothing of ours runs before). */
static int log_debug, log_syslog;

void p11l_log_setup(int debug, int to_syslog)
{
	__atomic_store_n(&log_debug, debug, __ATOMIC_RELEASE);
	__atomic_store_n(&log_syslog, to_syslog, __ATOMIC_RELEASE);
}

void p11l_log(const char *fmt, ...)
{
	int to_syslog = __atomic_load_n(&log_syslog, __ATOMIC_ACQUIRE);
	va_list ap;

	if (!to_syslog && !__atomic_load_n(&log_debug, __ATOMIC_ACQUIRE))
		return;
	va_start(ap, fmt);
	if (to_syslog)
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
