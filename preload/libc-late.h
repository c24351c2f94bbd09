/* The C library's functions that only a process using PKCS#11 needs,
 * called through one table that libc-late.c fills at the first module.
 *
 * Every function the library imports costs every process on the host a
 * relocation at load time, and every glibc symbol version one more check
 * (HACKING.md, invariant 3; BENCHMARK.md has the figures).  What runs before
 * the first module (the dlsym route, OPENSSL_cleanup) and what every path
 * needs (string functions, errno, write, the lock) stays imported; the
 * rest is looked up here, so that /bin/true pays for none of it.
 *
 * Looked up in the global scope (RTLD_DEFAULT), as the loader would have
 * bound the import: a sanitizer runtime's interceptors, or another
 * preloaded library's, are found as they would have been.  A function the
 * headers redirect to another name (64-bit off_t or time_t on 32-bit
 * ABIs) is looked up by that name. */
#ifndef P11L_LIBC_LATE_H
#define P11L_LIBC_LATE_H

#include <dlfcn.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <poll.h>
#include <sched.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/auxv.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* glibc 2.41 (Debian 13) defines __USE_TIME_BITS64 on 64-bit ports too,
 * where time_t always had 64 bits and nothing is renamed: only a 32-bit
 * time ABI built with _TIME_BITS=64 has the *time64 names. */
#if defined __USE_TIME_BITS64 && __TIMESIZE == 32
#define P11L_T64(plain, time64) time64
#define P11L_FSTAT_NAME "__fstat64_time64"
#define P11L_FCNTL_NAME "__fcntl_time64"
#define P11L_PREAD_NAME "pread64"
#define P11L_PWRITE_NAME "pwrite64"
#elif defined __USE_FILE_OFFSET64
#define P11L_T64(plain, time64) plain
#define P11L_FSTAT_NAME "fstat64"
#define P11L_FCNTL_NAME "fcntl64"
#define P11L_PREAD_NAME "pread64"
#define P11L_PWRITE_NAME "pwrite64"
#else
#define P11L_T64(plain, time64) plain
#define P11L_FSTAT_NAME "fstat"
#define P11L_FCNTL_NAME "fcntl"
#define P11L_PREAD_NAME "pread"
#define P11L_PWRITE_NAME "pwrite"
#endif

/* One row per function: its name, and the name to look up. */
#define P11L_LIBC_LATE(X) \
	X(clock_gettime, P11L_T64("clock_gettime", "__clock_gettime64")) \
	X(clock_nanosleep, P11L_T64("clock_nanosleep", "__clock_nanosleep_time64")) \
	X(fstat, P11L_FSTAT_NAME) \
	X(getauxval, "getauxval") \
	X(secure_getenv, "secure_getenv") \
	X(sem_clockwait, P11L_T64("sem_clockwait", "__sem_clockwait64")) \
	X(sem_init, "sem_init") \
	X(sem_post, "sem_post") \
	X(sem_wait, "sem_wait") \
	X(pthread_create, "pthread_create") \
	X(pthread_detach, "pthread_detach") \
	X(pthread_join, "pthread_join") \
	X(dladdr, "dladdr") \
	X(on_exit, "on_exit") \
	X(pthread_self, "pthread_self") \
	X(sigaction, "sigaction") \
	X(sigaddset, "sigaddset") \
	X(sigemptyset, "sigemptyset") \
	X(sigfillset, "sigfillset") \
	X(sigprocmask, "sigprocmask") \
	X(raise, "raise") \
	X(pause, "pause") \
	X(_exit, "_exit") \
	X(pipe, "pipe") \
	X(fcntl, P11L_FCNTL_NAME) \
	X(poll, "poll") \
	X(flock, "flock") \
	X(pread, P11L_PREAD_NAME) \
	X(pwrite, P11L_PWRITE_NAME) \
	X(geteuid, "geteuid") \
	X(socket, "socket") \
	X(connect, "connect") \
	X(send, "send") \
	X(fflush, "fflush") \
	X(fflush_unlocked, "fflush_unlocked") \
	X(ftrylockfile, "ftrylockfile") \
	X(funlockfile, "funlockfile") \
	X(fnmatch, "fnmatch") \
	X(realloc, "realloc") \
	X(sched_yield, "sched_yield") \
	X(strcasecmp, "strcasecmp") \
	X(strerror, "strerror") \
	X(snprintf, "snprintf") \
	X(vsnprintf, "vsnprintf")

#define P11L_LIBC_MEMBER(name, lookup) __typeof__(name) *name;
struct p11l_libc {
	P11L_LIBC_LATE(P11L_LIBC_MEMBER)
	/* The program's streams (a copy relocation in the executable is
	 * the one in use: the global scope finds it first). */
	FILE **stdout_p, **stderr_p;
	/* pthread_atfork() is this underneath, with our __dso_handle. */
	int (*register_atfork)(void (*)(void), void (*)(void),
			       void (*)(void), void *);
};
extern struct p11l_libc p11l_libc;

/* Fills the table once.  The name of a function not found, or NULL when
 * all were: without one, nothing of ours runs, and every module passes
 * through unwrapped (the caller says so). */
const char *p11l_libc_missing(void);

/* pthread_atfork, through the table. */
int p11l_atfork(void (*prepare)(void), void (*parent)(void),
		void (*child)(void));

#endif
