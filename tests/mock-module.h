/* The shared core of the test modules (mock-common.c): the call log, the
 * CKR names, and a token's slots, sessions and login state behind one
 * lock.  Each variant (fake-module.c, odd-module.c) defines mock_variant
 * and its own C_* functions, which do their work here and log it in their
 * own words; what differs between them is only what the tests need to
 * differ.
 *
 * Every function returns with the lock released, unless it says so. */
#ifndef MOCK_MODULE_H
#define MOCK_MODULE_H

#include <stddef.h>

#include "pkcs11-types.h"

/* A module is built from several objects, and two variants can be loaded
 * in one process (even RTLD_GLOBAL): the core's names must bind inside
 * their own module. */
#define MOCK_HIDDEN __attribute__((visibility("hidden")))
#define MOCK_EXPORT __attribute__((visibility("default")))

/* CKU_* is unsigned, so no user type is this. */
#define MOCK_NOT_LOGGED_IN ((CK_ULONG)-1)
#define MOCK_MAX_SLOTS 16

struct mock_variant {
	const char *name;	/* starts every log line */
	const char *log_env;	/* names the log file */
	size_t max_sessions;	/* at most MOCK_MAX_SESSIONS */
	/* The login state in a MAP_SHARED mapping: a forked child that
	 * logs out logs its parent out too, as a token reached through an
	 * inherited connection would.  Otherwise each process has its own. */
	int shared_token;
};
#define MOCK_MAX_SESSIONS 4096

/* Defined by the variant. */
MOCK_HIDDEN extern const struct mock_variant mock_variant;

/* Appended to every logged call while set (never NULL). */
MOCK_HIDDEN extern const char *mock_via;

MOCK_HIDDEN const char *mock_rv_name(CK_RV rv);
/* 1 if the variable NAME is "1". */
MOCK_HIDDEN int mock_env_flag(const char *name);
/* The number in NAME if it is 1..max, else dflt. */
MOCK_HIDDEN CK_ULONG mock_env_count(const char *name, CK_ULONG max,
				    CK_ULONG dflt);

/* "NAME <text>\n" and "NAME <text><via> -> CKR_..\n", each one write(2)
 * (O_APPEND) to the log file, so lines from threads and processes never
 * mix; mock_logged returns rv. */
__attribute__((format(printf, 1, 2)))
MOCK_HIDDEN void mock_log(const char *fmt, ...);
__attribute__((format(printf, 2, 3)))
MOCK_HIDDEN CK_RV mock_logged(CK_RV rv, const char *fmt, ...);

/* CKR_OK with the lock held, or CKR_CRYPTOKI_NOT_INITIALIZED without. */
MOCK_HIDDEN CK_RV mock_enter(void);
MOCK_HIDDEN void mock_unlock(void);

/* C_Initialize's work, logged: the process's sessions go (in a forked
 * child they are its parent's); with reset_login every slot's login
 * becomes login, else the token keeps what it had. */
MOCK_HIDDEN CK_RV mock_initialize(CK_ULONG nslots, int reset_login,
				  CK_ULONG login);
/* The same C_Finalize, logged, for every variant. */
MOCK_HIDDEN CK_RV mock_C_Finalize(CK_VOID_PTR reserved);
MOCK_HIDDEN CK_RV mock_slot_list(CK_SLOT_ID *slots, CK_ULONG *count);
/* reuse: the lowest handle not in use from 100, else a new one. */
MOCK_HIDDEN CK_RV mock_open_session(CK_SLOT_ID slot, CK_FLAGS flags,
				    int reuse, CK_SESSION_HANDLE *ph);
MOCK_HIDDEN CK_RV mock_close_all(CK_SLOT_ID slot);

/* These set *slot to the session's slot, or to 0 when the session was not
 * found (or the module not initialised). */
MOCK_HIDDEN CK_RV mock_close_session(CK_SESSION_HANDLE h, CK_SLOT_ID *slot);
MOCK_HIDDEN CK_RV mock_session_info(CK_SESSION_HANDLE h,
				    CK_SESSION_INFO *info, CK_SLOT_ID *slot);
/* want_pin: NULL accepts any PIN, which is compared, never kept. */
MOCK_HIDDEN CK_RV mock_login(CK_SESSION_HANDLE h, CK_USER_TYPE user,
			     const CK_UTF8CHAR *pin, CK_ULONG pin_len,
			     const char *want_pin, CK_SLOT_ID *slot);
/* veto, if not NULL, runs with the lock held once the session is found;
 * what it returns other than CKR_OK is the answer, with nothing changed.
 * It may release the lock only to never return. */
MOCK_HIDDEN CK_RV mock_logout(CK_SESSION_HANDLE h,
			      CK_RV (*veto)(CK_SLOT_ID slot), CK_SLOT_ID *slot);
/* CKR_OK if the session's slot is logged in, else why not. */
MOCK_HIDDEN CK_RV mock_check_login(CK_SESSION_HANDLE h, CK_SLOT_ID *slot);

/* "logged in: 1 2; sessions: 1:3" (or " none"); 0 before the token. */
MOCK_HIDDEN int mock_describe(char *buf, size_t size);

#endif
