/* libfini-hook: one function, run from this library's ELF destructor.
 *
 * With OpenSSL 4.0 libcrypto tears itself down from its own destructor
 * (after every exit handler, and only once OPENSSL_cleanup() was called),
 * so the point after OpenSSL's teardown, where a module that needs
 * libcrypto can no longer work, comes after that destructor.  Programs
 * load this library last (fini-hook-load.c), which puts its destructor
 * after libcrypto's. */
#include "fini-hook.h"

#include <stddef.h>

static void (*hook)(void);

void fini_hook_set(void (*fn)(void))
{
	hook = fn;
}

__attribute__((destructor)) static void fini_hook_run(void)
{
	if (hook != NULL)
		hook();
}
