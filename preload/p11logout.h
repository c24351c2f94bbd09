/* Internal interfaces of libp11logout, shared by its source files.
 *
 * The path a lookup takes, file by file:
 *   dlsym-entry-*.S   the exported dlsym: routes, then jumps (tail) on
 *   dlsym-route.c     getter names go to p11l_dlsym_wrap, all else to libc
 *   module-table.c    one record per module, found by its load address
 *   getters-wrapped.c the module's getters, returning wrapped lists
 *   list-wrapped.c    the copy of a function list, sized by its version
 *   entry-table.c     per-module entry points (a fixed table of closures)
 *   calls-wrapped.c   the session-lifecycle calls, which keep the record
 *   login-record.c    the record: open sessions and logged-in slots
 *   exit-handler.c    the atexit handler that logs out before teardown
 */
#ifndef P11L_P11LOGOUT_H
#define P11L_P11LOGOUT_H

#include <stddef.h>
#include <sys/types.h>

#include "pkcs11-types.h"

#define P11L_HIDDEN __attribute__((visibility("hidden")))

/* How many distinct modules get entry points of their own.  A module past
 * this passes through unwrapped (and is named in the debug log): it keeps
 * working exactly as without the library, only without the exit logout. */
#define P11L_MAX_MODULES 32

/* How many distinct function lists (2.x from C_GetFunctionList, 3.0 and
 * 3.2 from C_GetInterface, ...) one module may hand out and get wrapped. */
#define P11L_LISTS_PER_MODULE 6

struct p11l_wrapped_list {
	const p11l_function_list *real;
	p11l_function_list copy;
	/* Handed out by C_GetInterface in place of the module's own. */
	CK_INTERFACE iface;
	int iface_set;
};

/* Every record carries the stamp it was added with (p11l_stamp).  A call
 * that removes records takes a stamp before it calls the module and then
 * removes only records older than that: one added by a call that raced
 * with it stays.  A stale record costs one harmless call at exit; a lost
 * one would leave the token logged in. */
struct p11l_session {
	CK_SESSION_HANDLE handle;
	CK_SLOT_ID slot;
	pid_t pid;
	unsigned long stamp;
};

struct p11l_login {
	CK_SLOT_ID slot;
	CK_USER_TYPE user;
	/* Taken when the login call entered our wrapper: an outer module of a
	 * proxy chain starts its login before the inner one it forwards to. */
	unsigned long order;
	pid_t pid;
	unsigned long stamp;
};

/* The three getters a caller can look up in a module. */
enum p11l_getter {
	P11L_GETTER_FUNCTION_LIST,
	P11L_GETTER_INTERFACE,
	P11L_GETTER_INTERFACE_LIST,
	P11L_GETTERS
};

struct p11l_module {
	unsigned index;
	const void *base;
	char *path;
	/* The module's own getters, as dlsym found them (by enum p11l_getter). */
	p11l_fn real_getter[P11L_GETTERS];
	/* The module's own entries, taken from the lists it handed out. */
	p11l_fn real[P11L_FN_COUNT_MAX];

	/* The process that initialised the module, and the one that logged
	 * in to it; 0 when none (finalize mode needs both). */
	pid_t init_pid;
	pid_t login_pid;

	/* Everything below is guarded by p11l_lock. */
	struct p11l_wrapped_list lists[P11L_LISTS_PER_MODULE];
	unsigned nlists;
	struct p11l_session *sessions;
	size_t nsessions, capsessions;
	struct p11l_login *logins;
	size_t nlogins, caplogins;
};

/* entry-table.c */
struct p11l_entries {
	CK_C_GetFunctionList get_function_list;
	CK_C_GetInterfaceList get_interface_list;
	CK_C_GetInterface get_interface;
	CK_C_Initialize initialize;
	CK_C_Finalize finalize;
	CK_C_OpenSession open_session;
	CK_C_CloseSession close_session;
	CK_C_CloseAllSessions close_all_sessions;
	CK_C_Login login;
	CK_C_LoginUser login_user;
	CK_C_Logout logout;
};
P11L_HIDDEN extern struct p11l_entries p11l_entry_table[P11L_MAX_MODULES];
P11L_HIDDEN void p11l_entry_table_init(void);

/* dlsym-route.c */
typedef void *(*p11l_dlsym_fn)(void *, const char *);
P11L_HIDDEN p11l_dlsym_fn p11l_dlsym_route(void *handle, const char *name);
P11L_HIDDEN void *p11l_dlsym_wrap(void *handle, const char *name);
P11L_HIDDEN void *p11l_next_symbol(const char *name);

/* dlsym-version.c */
P11L_HIDDEN const char *p11l_libc_dlsym_version(void);

/* module-table.c */
P11L_HIDDEN struct p11l_module *p11l_module_for_getter(void *getter);
P11L_HIDDEN struct p11l_module *p11l_module_at(unsigned index);
P11L_HIDDEN unsigned p11l_module_count(void);
P11L_HIDDEN p11l_fn p11l_real_fn(struct p11l_module *m, unsigned index);
P11L_HIDDEN void p11l_lock(void);
P11L_HIDDEN void p11l_unlock(void);

/* list-wrapped.c */
P11L_HIDDEN unsigned p11l_list_size(CK_VERSION version);
P11L_HIDDEN const p11l_function_list *p11l_wrap_list(struct p11l_module *m,
	const p11l_function_list *real);
P11L_HIDDEN CK_INTERFACE *p11l_wrap_interface(struct p11l_module *m,
	CK_INTERFACE *real);
P11L_HIDDEN int p11l_is_pkcs11_interface(const CK_INTERFACE *iface);

/* getters-wrapped.c */
P11L_HIDDEN int p11l_getter_index(const char *name);
P11L_HIDDEN void p11l_set_real_getter(struct p11l_module *m, int which, void *sym);
P11L_HIDDEN void *p11l_wrapped_getter(const struct p11l_entries *e, int which);
P11L_HIDDEN CK_RV p11l_get_function_list(unsigned idx, CK_FUNCTION_LIST_PTR_PTR pp);
P11L_HIDDEN CK_RV p11l_get_interface_list(unsigned idx, CK_INTERFACE *list,
	CK_ULONG *count);
P11L_HIDDEN CK_RV p11l_get_interface(unsigned idx, CK_UTF8CHAR *name,
	CK_VERSION *version, CK_INTERFACE **iface, CK_FLAGS flags);

/* calls-wrapped.c */
P11L_HIDDEN CK_RV p11l_initialize(unsigned idx, CK_VOID_PTR args);
P11L_HIDDEN CK_RV p11l_finalize(unsigned idx, CK_VOID_PTR reserved);
P11L_HIDDEN CK_RV p11l_open_session(unsigned idx, CK_SLOT_ID slot, CK_FLAGS flags,
	CK_VOID_PTR app, CK_NOTIFY notify, CK_SESSION_HANDLE *session);
P11L_HIDDEN CK_RV p11l_close_session(unsigned idx, CK_SESSION_HANDLE session);
P11L_HIDDEN CK_RV p11l_close_all_sessions(unsigned idx, CK_SLOT_ID slot);
P11L_HIDDEN CK_RV p11l_login(unsigned idx, CK_SESSION_HANDLE session,
	CK_USER_TYPE user, CK_UTF8CHAR *pin, CK_ULONG pin_len);
P11L_HIDDEN CK_RV p11l_login_user(unsigned idx, CK_SESSION_HANDLE session,
	CK_USER_TYPE user, CK_UTF8CHAR *pin, CK_ULONG pin_len,
	CK_UTF8CHAR *username, CK_ULONG username_len);
P11L_HIDDEN CK_RV p11l_logout(unsigned idx, CK_SESSION_HANDLE session);

/* login-record.c: all callers hold p11l_lock. */
P11L_HIDDEN int p11l_record_session_add(struct p11l_module *m,
	CK_SESSION_HANDLE h, CK_SLOT_ID slot);
P11L_HIDDEN void p11l_record_session_remove(struct p11l_module *m, CK_SESSION_HANDLE h);
P11L_HIDDEN void p11l_record_sessions_remove_slot(struct p11l_module *m,
	CK_SLOT_ID slot, unsigned long before);
P11L_HIDDEN int p11l_record_session_slot(struct p11l_module *m,
	CK_SESSION_HANDLE h, CK_SLOT_ID *slot);
P11L_HIDDEN int p11l_record_find_session(struct p11l_module *m,
	const CK_SLOT_ID *slot, CK_SESSION_HANDLE *h, CK_SLOT_ID *found_slot);
P11L_HIDDEN int p11l_record_login_add(struct p11l_module *m, CK_SLOT_ID slot,
	CK_USER_TYPE user, unsigned long order);
P11L_HIDDEN void p11l_record_login_remove(struct p11l_module *m, CK_SLOT_ID slot,
	unsigned long before);
P11L_HIDDEN void p11l_record_clear(struct p11l_module *m, unsigned long before);
P11L_HIDDEN unsigned long p11l_stamp(void);
#define P11L_ALL_RECORDS (~0UL)
P11L_HIDDEN void p11l_record_forget_other_processes(struct p11l_module *m);
P11L_HIDDEN int p11l_record_first_login(struct p11l_module **m, CK_SLOT_ID *slot);

/* exit-handler.c */
P11L_HIDDEN void p11l_exit_handler_arm(void);
P11L_HIDDEN void p11l_release_all_bounded(const char *why);

/* config.c */
enum p11l_mode {
	P11L_MODE_LOGOUT,	/* log out, close the logged-in slot's sessions */
	P11L_MODE_CLOSE,	/* also close every other session left open */
	P11L_MODE_FINALIZE,	/* also C_Finalize each module logged in */
};

struct p11l_config {
	int debug;
	/* Seconds the exit handler waits for the token; 0: no bound. */
	unsigned timeout;
	/* Seconds to keep retrying a login or session refused for lack of
	 * sessions; 0: no retry. */
	unsigned wait;
	enum p11l_mode mode;
	int log_syslog;
	/* Patterns of the modules to wrap, separated by ':'; NULL: all. */
	char *modules;
	/* The real module, in module-wrapper mode. */
	char *module;
};
#define P11L_DEFAULT_TIMEOUT 5
#define P11L_MAX_SECONDS 3600
P11L_HIDDEN const struct p11l_config *p11l_config(void);

/* log.c */
P11L_HIDDEN void p11l_log(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
P11L_HIDDEN void p11l_warn(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/* module-select.c */
P11L_HIDDEN int p11l_module_selected(const char *path);

/* session-wait.c */
struct p11l_wait {
	int started;
	unsigned tries;
	unsigned long long deadline;
	unsigned delay;
	unsigned seed;
};
P11L_HIDDEN int p11l_wait_again(struct p11l_wait *w, CK_RV rv);

/* ckr-names.c */
P11L_HIDDEN const char *p11l_ckr_name(CK_RV rv, char buf[32]);

#endif
