/* Where a dlsym lookup goes: libc's dlsym, or the getter wrapper. */
#include "config.h"

#include <dlfcn.h>
#include <string.h>

#include "p11logout.h"

static p11l_dlsym_fn real_dlsym;

/* libc's dlsym, found once through dlvsym so that our own exported dlsym
 * is skipped.  dlvsym wants the version, which differs between glibc
 * ports and releases: dlsym-version.c reads it from libc itself. */
P11L_NO_SANITIZE static p11l_dlsym_fn real_dlsym_get(void)
{
	p11l_dlsym_fn f = __atomic_load_n(&real_dlsym, __ATOMIC_ACQUIRE);
	const char *version;
	void *p;

	if (f)
		return f;
	version = p11l_libc_dlsym_version();
	p = version ? dlvsym(RTLD_NEXT, "dlsym", version) : NULL;
	if (!p)
		return NULL;
	f = (p11l_dlsym_fn)p11l_fn_of(p);
	__atomic_store_n(&real_dlsym, f, __ATOMIC_RELEASE);
	return f;
}

/* Used when libc's dlsym cannot be found: fail like a missing symbol
 * rather than take the process down. */
static void *dlsym_unavailable(void *handle, const char *name)
{
	(void)handle;
	p11l_warn("cannot find libc's dlsym; lookup of %s fails",
		  name ? name : "(null)");
	return NULL;
}

/* The next definition of a symbol after this library, as libc's dlsym
 * sees it when called from here. */
void *p11l_next_symbol(const char *name)
{
	p11l_dlsym_fn f = real_dlsym_get();

	return f ? f(RTLD_NEXT, name) : NULL;
}

/* Called for every dlsym in the process, so the common case is a few
 * compares.  Pseudo-handles are left alone: their meaning depends on the
 * caller, and a getter found that way belongs to another interposer. */
P11L_NO_SANITIZE p11l_dlsym_fn p11l_dlsym_route(void *handle, const char *name)
{
	if (name && name[0] == 'C' && name[1] == '_' && name[2] == 'G' &&
	    handle != RTLD_DEFAULT && handle != RTLD_NEXT &&
	    p11l_getter_index(name) >= 0)
		return p11l_dlsym_wrap;

	p11l_dlsym_fn f = real_dlsym_get();
	return f ? f : dlsym_unavailable;
}

/* A getter looked up in a module handle.  The handle, not the caller,
 * decides the result, so calling libc's dlsym from here is exact. */
void *p11l_dlsym_wrap(void *handle, const char *name)
{
	p11l_dlsym_fn f = real_dlsym_get();
	void *sym = f ? f(handle, name) : NULL;
	struct p11l_module *m;
	void *wrapper;
	int which;

	if (!sym)
		return NULL;
	/* Made here, above the module table: the entry points' bodies use
	 * it.  Out of memory, the table says so and passes the module by. */
	p11l_entry_points_init();
	m = p11l_module_for_getter(sym);
	if (!m)
		return sym;

	/* Each getter is kept once; a second lookup of the same module finds
	 * the same entry points and so the same wrapped lists and record. */
	which = p11l_getter_index(name);
	p11l_set_real_getter(m, which, sym);
	wrapper = p11l_wrapped_getter(m, which);
	p11l_log("%s: %s wrapped", m->path, name);
	return wrapper;
}
