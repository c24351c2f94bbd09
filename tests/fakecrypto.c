/* A libcrypto as far as OPENSSL_cleanup goes, for cleanup-versions.sh
 * and cleanup-then-sign.sh; built twice, as libp11l-fakecrypto3.so
 * (FAKECRYPTO_MAJOR 3, version node OPENSSL_3.0.0) and
 * libp11l-fakecrypto4.so (4, OPENSSL_4.0.0), so that one process can
 * hold both, as a 3.x program with a 4.0 library does.
 *
 * Each behaves as its OpenSSL does at the call: 3.x tears down at once;
 * 4.0 only sets a flag, and the teardown runs from its ELF destructor,
 * after every exit handler.  Each teardown appends one line to the file
 * FAKE_LOG names (the fake module's log, so the order of the two shows). */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef FAKECRYPTO_MAJOR
#error "FAKECRYPTO_MAJOR must be 3 or 4"
#endif
#define STR2(x) #x
#define STR(x) STR2(x)
#define NAME "fakecrypto" STR(FAKECRYPTO_MAJOR)

void OPENSSL_cleanup(void);

static void log_line(const char *what)
{
	const char *path = getenv("FAKE_LOG");
	char buf[128];
	int n, fd;

	if (!path || !*path)
		return;
	n = snprintf(buf, sizeof buf, "%s %s\n", NAME, what);
	if (n < 0 || (size_t)n >= sizeof buf)
		return;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
	if (fd < 0)
		return;
	if (write(fd, buf, (size_t)n) != n)
		perror(NAME);
	close(fd);
}

#if FAKECRYPTO_MAJOR == 3
void OPENSSL_cleanup(void)
{
	log_line("OPENSSL_cleanup: teardown");
}
#else
static int cleanup_called;

void OPENSSL_cleanup(void)
{
	log_line("OPENSSL_cleanup: flag set");
	cleanup_called = 1;
}

__attribute__((destructor)) static void fakecrypto_fini(void)
{
	if (cleanup_called)
		log_line("destructor: teardown");
}
#endif
