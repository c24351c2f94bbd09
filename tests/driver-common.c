/* The test drivers' common steps; see driver-common.h. */
#include "config.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver-common.h"

void driver_log(const char *var, const char *line)
{
	const char *path = getenv(var);
	char buf[256];
	int n, fd;

	if (!path || !*path)
		return;
	n = snprintf(buf, sizeof buf, "%s\n", line);
	if (n < 0 || (size_t)n >= sizeof buf)
		return;
	/* One write on O_APPEND: lines from several processes stay whole. */
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
	if (fd >= 0) {
		if (write(fd, buf, (size_t)n) != n)
			perror("driver: log");
		close(fd);
	}
}

void *driver_dlopen(const char *prog, const char *path)
{
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		fprintf(stderr, "%s: %s\n", prog, dlerror());
		exit(1);
	}
	return h;
}

p11l_fn driver_sym(void *handle, const char *name)
{
	void *sym = dlsym(handle, name);
	p11l_fn f = NULL;

	if (sym)
		memcpy(&f, &sym, sizeof f);
	return f;
}

CK_RV driver_login(const CK_FUNCTION_LIST *fl, CK_SLOT_ID slot, CK_FLAGS flags,
		   const char *pin, CK_SESSION_HANDLE *h)
{
	CK_RV rv = DRIVER_CALL(fl, C_OpenSession)(slot, flags, NULL, NULL, h);

	if (rv != CKR_OK)
		return rv;
	return DRIVER_CALL(fl, C_Login)(*h, CKU_USER, (CK_UTF8CHAR *)pin,
					(CK_ULONG)strlen(pin));
}
