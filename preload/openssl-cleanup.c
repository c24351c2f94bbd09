/* A program that calls OPENSSL_cleanup() itself on OpenSSL 3.x tears
 * OpenSSL down before any exit handler runs, and a module that needs
 * libcrypto for its logout (the YubiHSM's secure channel), or a provider
 * that finalizes its module, could no longer send it.  So the call is
 * interposed: logins are released first, then OpenSSL's own runs.
 *
 * OpenSSL 4.0's OPENSSL_cleanup() only sets a flag: the teardown runs
 * from libcrypto's ELF destructor, after every atexit and on_exit handler,
 * ours included, and a program may go on signing after the call (the
 * openssl command makes it at the end of main).  Releasing there would end
 * the sessions it still uses, so 4.0's is forwarded and nothing more.
 *
 * Each version a caller binds to has a definition of its own (the version
 * nodes are in libp11logout.map), forwarding to that same version after
 * us with dlvsym: in a process with libcrypto 3 and 4 both in the global
 * scope, an unversioned lookup finds whichever comes first, and a 4.0
 * library's call tore down the program's libcrypto 3.  dlvsym is the one
 * dl function the library imports anyway (dlsym-route.c); no symbol of
 * ours is looked up by it, so calling it from C here is exact: RTLD_NEXT
 * means after libp11logout.so.
 *
 * OPENSSL_3.0.0 is the default version and comes first, so references
 * without a version get the 3.x definition, as every reference did
 * before: dlsym(RTLD_DEFAULT, "OPENSSL_cleanup"), which takes the default
 * one, and a program linked with a libcrypto built without versions,
 * which takes the first.  An OpenSSL 1.1 program binds OPENSSL_1_1_0,
 * which is not ours: it calls its libcrypto directly (no release at an
 * explicit call; the one at exit still comes before 1.1's atexit
 * teardown).  dlsym itself stays unversioned (the base version), which
 * matches a reference of any version: in a named node, callers bound to
 * dlsym@GLIBC_x would skip it.
 *
 * This sees only calls that go through the dynamic linker: a program
 * linked statically with libcrypto, or a call from inside a libcrypto
 * built with -Bsymbolic-functions, is not interposed (OpenSSL 3's own
 * atexit cleanup needs no interposing: our exit handler runs first). */
#include "config.h"

#include <dlfcn.h>
#include <string.h>

#include "p11logout.h"
#include "release.h"

static const char name[] = "OPENSSL_cleanup";
static const char v3[] = "OPENSSL_3.0.0";
static const char v4[] = "OPENSSL_4.0.0";

static void call(void *sym)
{
	p11l_fn_of(sym)();
}

static void release(void)
{
	if (p11l_module_count() > 0)
		p11l_release("OPENSSL_cleanup", P11L_RELEASE_BOUNDED, 0);
}

/* OPENSSL_cleanup@@OPENSSL_3.0.0, and references without a version. */
P11L_EXPORT void p11l_openssl_cleanup_3(void)
{
	void *next = dlvsym(RTLD_NEXT, name, v3);

	/* No libcrypto 3 after us: a reference without a version (it gets
	 * this definition) in a process without one, or a 3.x caller whose
	 * libcrypto is not in the global scope (dlopen()ed RTLD_LOCAL, which
	 * RTLD_NEXT does not see).  It gets what a reference without a
	 * version finds after us, as before versions, released first unless
	 * that is libcrypto 4's, which tears nothing down now.  With nothing
	 * to forward to, the release still comes: the caller asked for the
	 * teardown, and is done with its tokens. */
	if (!next) {
		next = p11l_next_symbol(name);
		if (next && next == dlvsym(RTLD_NEXT, name, v4)) {
			call(next);
			return;
		}
	}
	release();
	if (next)
		call(next);
}

/* OPENSSL_cleanup@OPENSSL_4.0.0: callers linked with libcrypto 4. */
P11L_EXPORT void p11l_openssl_cleanup_4(void)
{
	void *next = dlvsym(RTLD_NEXT, name, v4);

	/* None after us: the caller's libcrypto 4 is not in the global scope
	 * (dlopen()ed RTLD_LOCAL).  Another version is no substitute: an
	 * unversioned lookup would find the program's libcrypto 3 and tear
	 * it down.  So the call is dropped; the flag it sets only decides
	 * whether libcrypto 4 frees its memory in its destructor as the
	 * process ends. */
	if (next)
		call(next);
}

/* The names callers bind to; the p11l_ names are made local by the
 * version script.  gas and clang's assembler read this the same way on
 * every ELF target ('@' in a .symver operand is not Arm's comment). */
__asm__(".symver p11l_openssl_cleanup_3, OPENSSL_cleanup@@OPENSSL_3.0.0");
__asm__(".symver p11l_openssl_cleanup_4, OPENSSL_cleanup@OPENSSL_4.0.0");
