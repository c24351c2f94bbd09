/* For the benchmark only: what the first stage of a split library would
 * cost /bin/true.  The split was measured and not made (BENCHMARK.md): a
 * small preloaded library with the dlsym entry, the getter-name routing,
 * the OPENSSL_cleanup interposer and a loader that opens the rest (the
 * record, the wrappers, the exit handler, the settings) from the same
 * directory at the first module.  This has the imports and the shape such
 * a first stage needs; nothing calls into the second stage here.  Linked
 * like the library, without the C start files. */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

typedef void *(*dlsym_fn)(void *, const char *);

static dlsym_fn real_dlsym;
static void *(*second_wrap)(void *, const char *, dlsym_fn);
static void (*second_cleanup)(void);

static dlsym_fn real_get(void)
{
	dlsym_fn f = __atomic_load_n(&real_dlsym, __ATOMIC_ACQUIRE);

	if (!f) {
		void *p = dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.34");
		if (!p)
			p = dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.2.5");
		memcpy(&f, &p, sizeof f);
		__atomic_store_n(&real_dlsym, f, __ATOMIC_RELEASE);
	}
	return f;
}

static int load_second(void)
{
	char path[4096];
	const char *slash;
	Dl_info di;
	void *h, *p;

	if (second_wrap)
		return 1;
	if (!dladdr((void *)&real_get, &di) || !di.dli_fname)
		return 0;
	slash = strrchr(di.dli_fname, '/');
	snprintf(path, sizeof path, "%.*slibp11logout-second.so",
		 slash ? (int)(slash - di.dli_fname + 1) : 0, di.dli_fname);
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return 0;
	p = real_get()(h, "p11l_second_wrap");
	memcpy(&second_wrap, &p, sizeof p);
	p = real_get()(h, "p11l_second_cleanup");
	memcpy(&second_cleanup, &p, sizeof p);
	return second_wrap != NULL;
}

static void *wrap(void *handle, const char *name)
{
	if (!load_second())
		return real_get()(handle, name);
	return second_wrap(handle, name, real_get());
}

static int is_getter(const char *n)
{
	return !strcmp(n, "C_GetFunctionList") || !strcmp(n, "C_GetInterface") ||
	       !strcmp(n, "C_GetInterfaceList");
}

__attribute__((visibility("default"))) void *dlsym(void *handle, const char *name)
{
	if (name[0] == 'C' && name[1] == '_' && name[2] == 'G' &&
	    handle != RTLD_DEFAULT && handle != RTLD_NEXT && is_getter(name))
		return wrap(handle, name);
	return real_get()(handle, name);
}

__attribute__((visibility("default"))) void OPENSSL_cleanup(void)
{
	void (*next)(void);
	void *sym;

	if (second_cleanup)
		second_cleanup();
	sym = real_get()(RTLD_NEXT, "OPENSSL_cleanup");
	if (!sym)
		return;
	memcpy(&next, &sym, sizeof next);
	next();
}
