/* Settings from the environment, read once, at the first module seen:
 * a process that never touches PKCS#11 never reads them.  secure_getenv
 * ignores them in setuid and other secure-execution processes. */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifndef HAVE_SECURE_GETENV
#include <sys/auxv.h>
#endif

#include "p11logout.h"

static struct p11l_config config;
static pthread_once_t config_once = PTHREAD_ONCE_INIT;

static const char *env(const char *name)
{
#ifdef HAVE_SECURE_GETENV
	return secure_getenv(name);
#else
	return getauxval(AT_SECURE) ? NULL : getenv(name);
#endif
}

static int parse_bool(const char *name, const char *v, int fallback, int *warn)
{
	static const char yes[][6] = { "1", "yes", "true", "on" };
	static const char no[][6] = { "0", "no", "false", "off", "" };

	*warn = 0;
	if (!v)
		return fallback;
	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
		if (strcasecmp(v, yes[i]) == 0)
			return 1;
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
		if (strcasecmp(v, no[i]) == 0)
			return 0;
	(void)name;
	*warn = 1;
	return fallback;
}

/* A whole decimal number from lo to hi, nothing else. */
static int parse_uint(const char *v, unsigned long lo, unsigned long hi,
		      unsigned long *out)
{
	unsigned long n = 0;

	if (!v || !*v)
		return 0;
	for (const char *p = v; *p; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		n = n * 10 + (unsigned long)(*p - '0');
		if (n > hi)
			return 0;
	}
	if (n < lo)
		return 0;
	*out = n;
	return 1;
}

static void load(void)
{
	const char *v = env("P11LOGOUT_DEBUG");
	unsigned long n;
	int bad;

	config.debug = parse_bool("P11LOGOUT_DEBUG", v, 0, &bad);
	/* The value cannot be used at all, so say so once, even though debug
	 * output is off. */
	if (bad)
		p11l_warn("P11LOGOUT_DEBUG='%.40s' is not 0 or 1; debug output stays off", v);

	config.timeout = P11L_DEFAULT_TIMEOUT;
	v = env("P11LOGOUT_TIMEOUT");
	if (v) {
		if (parse_uint(v, 0, P11L_MAX_TIMEOUT, &n))
			config.timeout = (unsigned)n;
		else
			p11l_warn("P11LOGOUT_TIMEOUT='%.40s' is not a number of seconds from 0 to %d; using %d",
				  v, P11L_MAX_TIMEOUT, P11L_DEFAULT_TIMEOUT);
	}
}

const struct p11l_config *p11l_config(void)
{
	pthread_once(&config_once, load);
	return &config;
}
