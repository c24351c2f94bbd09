/* Fills the table of libc-late.h at the first module: see there why. */
#include "config.h"

#include <string.h>

#include "p11logout.h"
#include "libc-late.h"

struct p11l_libc p11l_libc;
static int ready;

/* Filled by code, not by an initialiser: pointers in initialised data
 * would cost every process a relocation each at load. */
static int lookup(void *dest, const char *name)
{
	void *p = dlsym(RTLD_DEFAULT, name);

	memcpy(dest, &p, sizeof p);
	if (!p)
		p11l_warn("cannot find %s in the C library; modules pass through unwrapped", name);
	return p != NULL;
}

#define P11L_LIBC_FILL(name, sym) ok &= lookup(&p11l_libc.name, sym);

static void fill(void)
{
	int ok = 1;

	P11L_LIBC_LATE(P11L_LIBC_FILL)
	ok &= lookup(&p11l_libc.stdout_p, "stdout");
	ok &= lookup(&p11l_libc.stderr_p, "stderr");
	ok &= lookup(&p11l_libc.register_atfork, "__register_atfork");
	ready = ok;
}

int p11l_libc_ready(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, fill);
	return ready;
}

extern void *__dso_handle;

int p11l_atfork(void (*prepare)(void), void (*parent)(void),
		void (*child)(void))
{
	return p11l_libc.register_atfork(prepare, parent, child, __dso_handle);
}
