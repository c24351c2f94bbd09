/* A program that calls OPENSSL_cleanup() itself tears OpenSSL down before
 * any exit handler runs, and a module that needs libcrypto for its logout
 * (the YubiHSM's secure channel) could no longer send it.  So the call is
 * interposed: logins are released first, then OpenSSL's own runs.
 *
 * This sees only calls that go through the dynamic linker: a program
 * linked statically with libcrypto, or a call from inside a libcrypto
 * built with -Bsymbolic-functions, is not interposed (OpenSSL's own
 * atexit cleanup needs no interposing: our exit handler runs first). */
#include "config.h"

#include <string.h>

#include "p11logout.h"

__attribute__((visibility("default"))) void OPENSSL_cleanup(void)
{
	void *sym;
	void (*next)(void);

	if (p11l_module_count() > 0)
		p11l_release_all_bounded("OPENSSL_cleanup");
	sym = p11l_next_symbol("OPENSSL_cleanup");
	if (!sym)
		return;
	memcpy(&next, &sym, sizeof next);
	next();
}
