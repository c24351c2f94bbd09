/* P11LOGOUT_MODULES: which modules are wrapped.  A pattern with a '/' is
 * matched against the module's whole path as the loader resolved it; one
 * without is matched against the file name alone, so "yubihsm_pkcs11.so"
 * and "/usr/lib/x86_64-linux-gnu/yubihsm_pkcs11.so" both work.  Patterns are separated
 * by ':'; no list means every module. */
#include "config.h"

#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "p11logout.h"
#include "libc-late.h"

int p11l_module_selected(const char *path)
{
	const char *list = p11l_config()->modules;
	const char *base;

	if (!list)
		return 1;
	if (!path)
		return 0;
	base = strrchr(path, '/');
	base = base ? base + 1 : path;

	for (const char *p = list; *p;) {
		const char *end = strchr(p, ':');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char pattern[P11L_PATTERN_MAX + 1];

		if (len > 0 && len < sizeof pattern) {
			/* Not memcpy: its symbol version (GLIBC_2.14) would be
			 * the library's only need of that version, which the
			 * loader checks in every process, PKCS#11 or not. */
			p11l_libc.snprintf(pattern, sizeof pattern, "%.*s", (int)len, p);
			if (p11l_libc.fnmatch(pattern, strchr(pattern, '/') ? path : base, 0) == 0)
				return 1;
		}
		p += len;
		if (*p == ':')
			p++;
	}
	return 0;
}
