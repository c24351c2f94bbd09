/* For syslog-log.sh (issue 9.5): a program that, like a daemon, closes
 * every descriptor after the library has started logging to syslog, and
 * gets the same numbers for a socket pair of its own.  Then it logs in
 * again (the library logs that) and checks that nothing of the library's
 * arrived on its own socket.
 *
 * Usage: syslog-reuse MODULE PIN
 * Prints "own socket: clean" or "own socket: got <datagram>"; exits 0 when
 * clean, 1 otherwise. */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pkcs11-types.h"

#define CALL(fl, name) ((CK_##name)(fl)->fn[P11L_##name])

int main(int argc, char **argv)
{
	CK_FUNCTION_LIST *fl;
	CK_C_GetFunctionList gfl;
	CK_SESSION_HANDLE h;
	int sv[2];
	char buf[700];
	void *mod, *sym;
	ssize_t n;

	if (argc != 3)
		return 2;
	mod = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	sym = mod ? dlsym(mod, "C_GetFunctionList") : NULL;
	memcpy(&gfl, &sym, sizeof gfl);
	if (!gfl || gfl(&fl) != CKR_OK || CALL(fl, C_Initialize)(NULL) != CKR_OK ||
	    CALL(fl, C_OpenSession)(1, CKF_SERIAL_SESSION, NULL, NULL, &h) != CKR_OK ||
	    CALL(fl, C_Login)(h, CKU_USER, (CK_UTF8CHAR *)argv[2], strlen(argv[2])) != CKR_OK ||
	    CALL(fl, C_Logout)(h) != CKR_OK) {
		fprintf(stderr, "syslog-reuse: the first login failed\n");
		return 1;
	}
	/* The daemon's clean slate: the library's socket goes too. */
	fflush(stdout);
	for (int fd = 3; fd < 64; fd++)
		close(fd);
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) != 0)
		return 1;
	if (CALL(fl, C_Login)(h, CKU_USER, (CK_UTF8CHAR *)argv[2], strlen(argv[2])) != CKR_OK) {
		fprintf(stderr, "syslog-reuse: the second login failed\n");
		return 1;
	}
	n = recv(sv[0], buf, sizeof buf - 1, MSG_DONTWAIT);
	if (n < 0)
		n = recv(sv[1], buf, sizeof buf - 1, MSG_DONTWAIT);
	if (n >= 0) {
		buf[n] = '\0';
		printf("own socket: got %s\n", buf);
		return 1;
	}
	printf("own socket: clean\n");
	return 0;
}
