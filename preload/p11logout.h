/* Internal interfaces of libp11logout, shared by its source files.
 *
 * The path a lookup takes, file by file:
 *   dlsym-entry-*.S   the exported dlsym: routes, then jumps (tail) on
 *                     (dlsym-entry.h: the directives they all share)
 *   dlsym-route.c     getter names go to p11l_dlsym_wrap, all else to libc
 *   module-table.c    one record per module, found by its load address,
 *                     and the entry sets (our entry points per list kind)
 *   getters-wrapped.c the module's getters, returning wrapped lists
 *   list-wrapped.c    the copy of a function list, sized by its version
 *   entry-points.c    entry points per entry set, generated from the
 *                     table of wrapped calls (P11L_WRAPPED_CALLS below)
 *   entry-table.c     where the lists and getters find them
 *   calls-wrapped.c   the session-lifecycle calls, which keep the record
 *   finalize-logout.c the logout a program's own C_Finalize leaves out
 *   login-record.c    the record: open sessions and logged-in slots, and
 *                     what a release of ours ended
 *   process-self.c    the process its entries are tagged with
 *   exit-handler.c    the exit and quick_exit handlers, registered at
 *                     the first login, before OpenSSL's teardown
 *   release.c         the release they start: one at a time, within one
 *                     bound, logging out through our own entries
 *                     (release.h: its interface, and the one intended
 *                     import circle)
 *   exit-watchdog.c   ends a stuck exit with the program's status
 *   signal-release.c  the opt-in release on termination signals
 *   openssl-cleanup.c the OPENSSL_cleanup interposer: releases first
 * Around it:
 *   module-select.c   which modules are wrapped (P11LOGOUT_MODULES)
 *   session-wait.c    retrying a login refused for lack of sessions
 *   session-places.c  the opt-in limit on logins from this host
 *   lock-file.c       the lock files of both, safe in shared directories,
 *                     and the ones held, closed in a forked child
 *   clock-thread.c    the clock, pauses and threads of our own
 *   config.c          the settings: defaults, file, P11LOGOUT_* variables
 *   libc-late.c       libc functions looked up at the first module
 *   log.c             diagnostics to stderr or syslog
 *   ckr-names.c       CKR_* names for the log
 *   module-entry.c    libp11logout-module.so: the wrapper as a module
 *   pkcs11-types.h    the subset of PKCS#11 the library needs
 *   p11-run.in        the p11-run command
 */
#ifndef P11L_P11LOGOUT_H
#define P11L_P11LOGOUT_H

#include <stddef.h>
#include <sys/types.h>

#include "pkcs11-types.h"

/* Everything is built with -fvisibility=hidden; only what a program may
 * call (dlsym, OPENSSL_cleanup, the module wrapper's getters) is exported. */
#define P11L_EXPORT __attribute__((visibility("default")))

/* How many distinct modules get entry points of their own.  A module past
 * this passes through unwrapped (and is named in the debug log): it keeps
 * working exactly as without the library, only without the exit logout. */
#define P11L_MAX_MODULES 32

/* How many distinct function lists (2.x from C_GetFunctionList, 3.0 and
 * 3.2 from C_GetInterface, ...) one module may hand out and get wrapped. */
#define P11L_LISTS_PER_MODULE 6

/* The wrapped calls, one row each: the call's name (its position P11L_<name>
 * in a function list and its type CK_<name> come from pkcs11-types.h), its
 * parameters, and the arguments passed on.  Its body is p11l_<name>, taking
 * first the entry set it was called through.  entry-points.c makes one entry
 * point per row for every entry set, and list-wrapped.c puts it into each
 * wrapped list long enough to hold it.  Adding a wrapped call is one row
 * here, its body in calls-wrapped.c, and in pkcs11-types.h its position
 * and type where they are not there yet (HACKING.md). */
#define P11L_WRAPPED_CALLS(X, d) \
	X(d, C_Initialize, (CK_VOID_PTR a), (a)) \
	X(d, C_Finalize, (CK_VOID_PTR r), (r)) \
	X(d, C_GetFunctionList, (CK_FUNCTION_LIST_PTR_PTR pp), (pp)) \
	X(d, C_OpenSession, (CK_SLOT_ID s, CK_FLAGS f, CK_VOID_PTR a, \
			     CK_NOTIFY n, CK_SESSION_HANDLE *h), (s, f, a, n, h)) \
	X(d, C_CloseSession, (CK_SESSION_HANDLE h), (h)) \
	X(d, C_CloseAllSessions, (CK_SLOT_ID s), (s)) \
	X(d, C_Login, (CK_SESSION_HANDLE h, CK_USER_TYPE u, CK_UTF8CHAR *p, \
		       CK_ULONG pl), (h, u, p, pl)) \
	X(d, C_Logout, (CK_SESSION_HANDLE h), (h)) \
	X(d, C_GetInterfaceList, (CK_INTERFACE *l, CK_ULONG *c), (l, c)) \
	X(d, C_GetInterface, (CK_UTF8CHAR *n, CK_VERSION *v, CK_INTERFACE **i, \
			      CK_FLAGS f), (n, v, i, f)) \
	X(d, C_LoginUser, (CK_SESSION_HANDLE h, CK_USER_TYPE u, CK_UTF8CHAR *p, \
			   CK_ULONG pl, CK_UTF8CHAR *un, CK_ULONG ul), \
	  (h, u, p, pl, un, ul))

#define P11L_UNPAREN(...) __VA_ARGS__
#define P11L_CALL_ROW(d, name, params, args) P11L_CALL_##name,
enum p11l_call { P11L_WRAPPED_CALLS(P11L_CALL_ROW, ~) P11L_CALLS };
#define P11L_CALL_BODY(d, name, params, args) \
	CK_RV p11l_##name(unsigned set, P11L_UNPAREN params);
P11L_WRAPPED_CALLS(P11L_CALL_BODY, ~)

/* How many sets of entry points there are.  Set i < P11L_MAX_MODULES
 * belongs to module i; the others go to a module whose lists disagree
 * (module-table.c). */
#define P11L_MAX_ENTRY_SETS (2 * P11L_MAX_MODULES)

/* A set of our entry points and the module's own entries they forward to.
 * Entries are only ever added (atomically), never changed, so the calls
 * read them without the lock. */
struct p11l_entry_set {
	struct p11l_module *module;
	p11l_fn real[P11L_CALLS];
	/* Not wrapped, but called to find a session's slot. */
	p11l_fn get_session_info;
};

struct p11l_wrapped_list {
	const p11l_function_list *real;
	/* Entries read from REAL, and the entry set the copy's calls go to. */
	unsigned n;
	unsigned set;
	p11l_function_list copy;
	/* Handed out by C_GetInterface in place of the module's own. */
	CK_INTERFACE iface;
	int iface_set;
};

/* Every record carries the stamp it was added with (p11l_stamp).  A call
 * that removes records takes a stamp before it calls the module and then
 * removes only records older than that: one added by a call that raced
 * with it stays.  A stale record costs one harmless call at exit; a lost
 * one would leave the token logged in.  (The sessions: session-record.c.) */
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

/* A session or login a release of ours ended (login-record.c). */
struct p11l_released {
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE handle;
	int is_session;
};

struct p11l_module {
	unsigned index;
	const void *base;
	char *path;
	/* The entry set the exit-time release calls through: the one of the
	 * last login (module-table.c).  Set i is module i's own. */
	unsigned release_set;
	/* The entry sets of this module's lists; sets[0] is set INDEX.
	 * Guarded by p11l_lock. */
	unsigned sets[P11L_LISTS_PER_MODULE];
	unsigned nsets;

	/* The process that initialised the module, and the one that logged
	 * in to it; 0 when none (finalize mode needs both). */
	pid_t init_pid;
	pid_t login_pid;

	/* The sessions by handle, in stripes with locks of their own
	 * (session-record.c); set when the module is made. */
	struct p11l_session_stripe *stripes;
	void *stripes_mem;

	/* Everything below is guarded by p11l_lock. */
	struct p11l_wrapped_list lists[P11L_LISTS_PER_MODULE];
	unsigned nlists;
	struct p11l_login *logins;
	size_t nlogins, caplogins;
	struct p11l_released *released;
	size_t nreleased, capreleased;
	/* A release of ours finalized the module. */
	int finalized_by_release;
	/* This process, a forked child, initialised the module while its
	 * parent was logged in: an answer "already logged in" may be the
	 * parent's login, on a token that shares it. */
	int parent_logged_in;
};

/* entry-table.c: our entry points, one per wrapped call for each entry set
 * (see struct p11l_entry_set), once entry-points.c has made the table. */
p11l_fn p11l_entry(unsigned set, enum p11l_call call);
void p11l_entry_table_set(p11l_fn (*table)[P11L_CALLS]);
int p11l_entry_table_ready(void);
/* entry-points.c: makes them, at the first module (dlsym-route.c,
 * module-entry.c); 0 when out of memory. */
int p11l_entry_points_init(void);

/* The sanitizer runtimes look up their own symbols with dlsym(RTLD_NEXT)
 * while they start, before they can run instrumented code: the route to
 * libc's dlsym (dlsym-route.c, dlsym-version.c) must not be instrumented. */
#if defined(__clang__)
#define P11L_NO_SANITIZE __attribute__((no_sanitize("address", "thread", "undefined")))
#elif defined(__GNUC__)
#define P11L_NO_SANITIZE __attribute__((no_sanitize_address, no_sanitize_thread, \
					 no_sanitize_undefined))
#else
#define P11L_NO_SANITIZE
#endif

/* dlsym hands out functions as void *, and ISO C has no cast between
 * object and function pointers: the conversion is done this one way.
 * p11l_fn then casts to any function type.  Not instrumented: the route
 * to libc's dlsym uses it (below). */
P11L_NO_SANITIZE static inline p11l_fn p11l_fn_of(void *p)
{
	union { void *p; p11l_fn f; } u = { .p = p };
	return u.f;
}

P11L_NO_SANITIZE static inline void *p11l_ptr_of(p11l_fn f)
{
	union { void *p; p11l_fn f; } u = { .f = f };
	return u.p;
}

/* dlsym-route.c */
typedef void *(*p11l_dlsym_fn)(void *, const char *);
p11l_dlsym_fn p11l_dlsym_route(void *handle, const char *name);
void *p11l_dlsym_wrap(void *handle, const char *name);
void *p11l_next_symbol(const char *name);

/* dlsym-version.c */
const char *p11l_libc_dlsym_version(void);

/* module-table.c */
struct p11l_module *p11l_module_for_getter(void *getter);
struct p11l_module *p11l_module_at(unsigned index);
unsigned p11l_module_count(void);
struct p11l_entry_set *p11l_set_at(unsigned set);
/* The entry sets, allocated at the first module.  Every wrapped call
 * reads its set's module and real entry: inline, not a call each. */
extern struct p11l_entry_set *p11l_sets __attribute__((visibility("hidden")));
static inline struct p11l_module *p11l_set_module(unsigned set)
{
	return __atomic_load_n(&p11l_sets[set].module, __ATOMIC_ACQUIRE);
}
/* The module's own entry behind our entry point CALL of SET. */
static inline p11l_fn p11l_real(unsigned set, enum p11l_call call)
{
	return __atomic_load_n(&p11l_sets[set].real[call], __ATOMIC_ACQUIRE);
}
int p11l_set_new(struct p11l_module *m);
unsigned p11l_release_set(struct p11l_module *m);
void p11l_lock(void);
void p11l_unlock(void);

/* list-wrapped.c */
const p11l_function_list *p11l_wrap_list(struct p11l_module *m,
	const p11l_function_list *real, int from_getter_2x);
CK_INTERFACE *p11l_wrap_interface(struct p11l_module *m,
	CK_INTERFACE *real);
int p11l_is_pkcs11_interface(const CK_INTERFACE *iface);

/* getters-wrapped.c */
int p11l_getter_index(const char *name);
void p11l_set_real_getter(struct p11l_module *m, int which, void *sym);
void *p11l_wrapped_getter(struct p11l_module *m, int which);

/* session-record.c: add, remove and slot need no lock of the caller's;
 * the walks over every session (remove_slot, clear, forget, find) run
 * under p11l_lock. */
int p11l_sessions_init(struct p11l_module *m);
void p11l_sessions_lock_all(struct p11l_module *m);
void p11l_sessions_unlock_all(struct p11l_module *m);
int p11l_record_session_add(struct p11l_module *m,
	CK_SESSION_HANDLE h, CK_SLOT_ID slot);
void p11l_record_session_remove(struct p11l_module *m, CK_SESSION_HANDLE h);
int p11l_record_session_slot(struct p11l_module *m,
	CK_SESSION_HANDLE h, CK_SLOT_ID *slot);
void p11l_record_sessions_remove_slot(struct p11l_module *m,
	CK_SLOT_ID slot, unsigned long before);
void p11l_record_sessions_clear(struct p11l_module *m, unsigned long before);
void p11l_record_sessions_forget_other_processes(struct p11l_module *m);
int p11l_record_find_session(struct p11l_module *m,
	const CK_SLOT_ID *slot, CK_SESSION_HANDLE *h, CK_SLOT_ID *found_slot);
size_t p11l_record_sessions_count(struct p11l_module *m);

/* login-record.c: all callers hold p11l_lock. */
int p11l_record_login_add(struct p11l_module *m, CK_SLOT_ID slot,
	CK_USER_TYPE user, unsigned long order);
void p11l_record_login_remove(struct p11l_module *m, CK_SLOT_ID slot,
	unsigned long before);
int p11l_record_login_with_session(struct p11l_module *m,
	unsigned long before, CK_SLOT_ID *slot, CK_SESSION_HANDLE *h);
void p11l_record_clear(struct p11l_module *m, unsigned long before);
unsigned long p11l_stamp(void);
/* A stamp below the counter without moving it, for the records made at
 * every C_OpenSession: a remover's p11l_stamp() taken after this read is
 * above it, one taken before is not, which is all the stamp rule asks;
 * and the threads opening sessions do not all write one cache line. */
extern unsigned long p11l_stamp_counter __attribute__((visibility("hidden")));
static inline unsigned long p11l_stamp_seen(void)
{
	return __atomic_load_n(&p11l_stamp_counter, __ATOMIC_SEQ_CST) - 1;
}
/* process-self.c: getpid() without a system call; p11l_self_forked in a
 * fork's child. */
pid_t p11l_self(void);
void p11l_self_forked(void);
/* The stamp the fork that made this process took in it (0 in the first):
 * records stamped below it are the parent's. */
unsigned long p11l_forked_at(void);
#define P11L_ALL_RECORDS (~0UL)
void p11l_record_forget_other_processes(struct p11l_module *m);
int p11l_record_first_login(struct p11l_module **m, CK_SLOT_ID *slot);
int p11l_released_add(struct p11l_module *m, CK_SLOT_ID slot,
	const CK_SESSION_HANDLE *h);
int p11l_released_find(struct p11l_module *m,
	const CK_SESSION_HANDLE *h, CK_SLOT_ID *slot, int take);
/* Whether a release of ours ended anything of M's: read without the lock,
 * so that a program's every C_OpenSession and C_CloseSession does not
 * take it.  A close racing with the release that ends the same session
 * could have gone either way with the lock too. */
static inline int p11l_released_any(struct p11l_module *m)
{
	return __atomic_load_n(&m->nreleased, __ATOMIC_RELAXED) > 0;
}
size_t p11l_released_forget(struct p11l_module *m,
	const CK_SLOT_ID *slot, int login);

/* exit-handler.c: at the first login, registers the exit and quick_exit
 * handlers that start the release (release.h), and arms the release on
 * signals. */
void p11l_release_handlers_arm(void);

/* finalize-logout.c: before the program's own C_Finalize, the logout
 * it left out (only in the process that logged in). */
void p11l_finalize_logout(unsigned set);

/* exit-watchdog.c: used by the release alone; GIVE_UP is its abandon. */
int p11l_watchdog_start(unsigned long long deadline, int status,
	int (*give_up)(void));
void p11l_watchdog_stop(void);

/* signal-release.c */
void p11l_signals_arm(void);

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
	/* P11LOGOUT_SIGNALS: bit N set releases on signal N; 0: off. */
	unsigned long signals;
	/* P11LOGOUT_MAX_SESSIONS: logins per module from this host at a
	 * time; 0: no limit. */
	unsigned max_sessions;
};
#define P11L_MAX_PLACES 256
/* Signals the setting may name are below this. */
#define P11L_MAX_SIGNAL 32
#define P11L_DEFAULT_TIMEOUT 5
#define P11L_MAX_SECONDS 3600
/* Loaded once, at the first call; read by every wrapped call, so the
 * loaded case is inline. */
extern const struct p11l_config *p11l_config_loaded __attribute__((visibility("hidden")));
const struct p11l_config *p11l_config_load(void);
static inline const struct p11l_config *p11l_config(void)
{
	const struct p11l_config *c = __atomic_load_n(&p11l_config_loaded, __ATOMIC_ACQUIRE);

	return c ? c : p11l_config_load();
}
/* Once, at the first module seen (module-table.c). */
void p11l_config_banner(void);

/* log.c: p11l_log only with debug or syslog, as config.c hands them
 * over when it loads the settings; p11l_warn always. */
void p11l_log_setup(int debug, int to_syslog);
void p11l_log(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
void p11l_warn(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/* module-select.c; a longer pattern is refused with the setting. */
#define P11L_PATTERN_MAX 511
int p11l_module_selected(const char *path);

/* session-wait.c */
struct p11l_wait {
	struct p11l_module *module;	/* set by the caller: whose lock files */
	unsigned tries;			/* for the caller's log */
	struct p11l_wait_state *s;	/* session-wait.c's own; NULL: no wait */
};
int p11l_wait_after(struct p11l_wait *w, CK_RV rv);
/* Whether to call the module again: the answer was CKR_SESSION_COUNT and
 * P11LOGOUT_WAIT allows it.  Every C_OpenSession asks: no call when no
 * wait is under way and the module did not refuse. */
static inline int p11l_wait_again(struct p11l_wait *w, CK_RV rv)
{
	if (!w->s && rv != CKR_SESSION_COUNT)
		return 0;
	return p11l_wait_after(w, rv);
}

/* session-places.c: P11LOGOUT_MAX_SESSIONS.  Take before a login reaches
 * the module (CKR_SESSION_COUNT: none free, do not call it; *TAKEN 1 when
 * a place was taken for it, 0 when none was needed or the slot has one);
 * give back after its logout or C_Finalize (SLOT NULL: all of the
 * module's). */
CK_RV p11l_place_take(struct p11l_module *m, CK_SLOT_ID slot, int *taken);
void p11l_place_give(struct p11l_module *m, const CK_SLOT_ID *slot);

/* lock-file.c: the user's lock file p11logout-KIND-UID-HASH(MODULE)TAIL,
 * or -1. */
int p11l_lock_file(const char *kind, const char *module, const char *tail);
int p11l_range_lock(int fd, int cmd, short type, off_t start, off_t len);
/* A lock file FD the process holds locked, kept under OWNER's KEY so that
 * a forked child closes its copy: 1 when kept, 0 when that key holds one
 * already or the table is full (FD left as it is).  Unhold forgets
 * OWNER's (KEY's, all of OWNER's when KEY is NULL), closing them when
 * CLOSE_THEM; one given back by unlocking is unlocked before it is
 * forgotten. */
int p11l_lock_hold(int fd, const void *owner, unsigned long key);
int p11l_lock_held(const void *owner, unsigned long key);
void p11l_lock_unhold(const void *owner, const unsigned long *key, int close_them);

/* ckr-names.c */
const char *p11l_ckr_name(CK_RV rv, char buf[32]);

#endif
