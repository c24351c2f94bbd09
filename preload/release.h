/* The release (release.c): what ends this process's logins on the
 * token.  It logs out every slot the process is still logged in to and
 * closes its sessions there (mode close: every session it left open; mode
 * finalize: then C_Finalize), one release at a time per process, all of
 * them together within P11LOGOUT_TIMEOUT.  Once a wait for the token gives
 * up, the library gives up for good: no call of ours after.
 *
 * The one loop in preload/ is intended, and it is this: a login
 * (calls-wrapped.c) arms the handlers (exit-handler.c) that start the
 * release (here), and the release logs out through our own wrapped entries
 * (calls-wrapped.c), so that the record follows each call and an inner
 * module of a proxy chain is released by forwarding.  The release finds
 * those entries in the entry table (entry-table.c), so in the objects no
 * file depends on itself through others: tests/imports.sh fails on any
 * import circle. */
#ifndef P11L_RELEASE_H
#define P11L_RELEASE_H

enum p11l_release_how {
	/* In a thread of ours, the caller waiting at most what is left of the
	 * bound and then going on: where the process goes on
	 * (OPENSSL_cleanup) or its status is unknown (quick_exit). */
	P11L_RELEASE_BOUNDED,
	/* At exit, on the exiting thread (a new thread would make the module
	 * set up its per-thread state again), with a watchdog that ends the
	 * process with STATUS once the bound has passed. */
	P11L_RELEASE_AT_EXIT,
	/* On the calling thread, only if no other release is running: the
	 * signal helper, whose signal handler bounds the wait itself. */
	P11L_RELEASE_IF_IDLE,
};

/* WHY prefixes the release's log lines ("exit", "OPENSSL_cleanup"). */
void p11l_release(const char *why, enum p11l_release_how how, int status);
/* Gives up on the running release, for good; 0 when it ended first.
 * Lock-free and async-signal-safe. */
int p11l_release_abandon(void);
/* Nonzero while the calling thread runs a release of ours.  Every wrapped
 * call asks: inline while no release runs. */
extern int p11l_releasing __attribute__((visibility("hidden")));
int p11l_in_release_thread(void);
static inline int p11l_in_release(void)
{
	return __atomic_load_n(&p11l_releasing, __ATOMIC_ACQUIRE) &&
	       p11l_in_release_thread();
}
/* Nonzero once the library gave up on the token. */
int p11l_release_given_up(void);

#endif
