/* What the test drivers (exit-driver, ossl-driver, secure-prog,
 * list-bounds, cleanup-prog) share: loading a module, one session logged
 * in, and the lines they add to the module's log, which tests/tap-lib.sh's
 * run splits at "driver exit". */
#ifndef P11L_DRIVER_COMMON_H
#define P11L_DRIVER_COMMON_H

#include "pkcs11-types.h"

/* The list's C_<name>, as its own type. */
#define DRIVER_CALL(list, name) ((CK_##name)(list)->fn[P11L_##name])

/* Appends LINE and a newline to the file $VAR names (nothing when unset). */
void driver_log(const char *var, const char *line);

/* PATH dlopen()ed (RTLD_NOW | RTLD_LOCAL); when it cannot be, PROG says
 * why on stderr and exits 1. */
void *driver_dlopen(const char *prog, const char *path);

/* HANDLE's NAME as a function, for a plain cast to its type; NULL when
 * there is none.  The one conversion from dlsym's void *. */
p11l_fn driver_sym(void *handle, const char *name);

/* A session on SLOT (FLAGS) and the user's login on it with PIN; the
 * session in *H.  Returns the first result that is not CKR_OK (that of
 * C_OpenSession, or of C_Login). */
CK_RV driver_login(const CK_FUNCTION_LIST *fl, CK_SLOT_ID slot, CK_FLAGS flags,
		   const char *pin, CK_SESSION_HANDLE *h);

#endif
