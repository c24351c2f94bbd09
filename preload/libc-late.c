/* Fills the table of libc-late.h at the first module: see there why. */
#include "config.h"

#include "p11logout.h"
#include "libc-late.h"

struct p11l_libc p11l_libc;
/* The first name not found; NULL when all were. */
static const char *missing;

/* Filled by code, not by an initialiser: pointers in initialised data
 * would cost every process a relocation each at load. */
static void *lookup(const char *name)
{
	void *p = dlsym(RTLD_DEFAULT, name);

	if (!p && !missing)
		missing = name;
	return p;
}

#define P11L_LIBC_FILL(name, sym) \
	p11l_libc.name = (__typeof__(name) *)p11l_fn_of(lookup(sym));

static void fill(void)
{
	P11L_LIBC_LATE(P11L_LIBC_FILL)
	p11l_libc.stdout_p = lookup("stdout");
	p11l_libc.stderr_p = lookup("stderr");
	p11l_libc.register_atfork = (__typeof__(p11l_libc.register_atfork))
		p11l_fn_of(lookup("__register_atfork"));
}

const char *p11l_libc_missing(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, fill);
	return missing;
}

extern void *__dso_handle;

int p11l_atfork(void (*prepare)(void), void (*parent)(void),
		void (*child)(void))
{
	return p11l_libc.register_atfork(prepare, parent, child, __dso_handle);
}
