/* The clock, pauses and threads of the library's own, in one place: the
 * release, its watchdog, the signal helper and the login wait use them.
 * One clock (CLOCK_MONOTONIC, in ns) and one sleep, so that the late libc
 * table has one row per job. */
#ifndef P11L_CLOCK_THREAD_H
#define P11L_CLOCK_THREAD_H

#include <pthread.h>
#include <semaphore.h>

unsigned long long p11l_now_ns(void);
static inline unsigned long long p11l_now_ms(void)
{
	return p11l_now_ns() / 1000000ULL;
}
/* Sleeps MS milliseconds. */
void p11l_pause_ms(unsigned ms);
/* A thread of ours, with every signal blocked. */
int p11l_thread_start(pthread_t *t, void *(*fn)(void *), void *arg);
/* Waits for SEM until DEADLINE (p11l_now_ns).  0 when posted. */
int p11l_sem_wait_until(sem_t *sem, unsigned long long deadline);
/* In a spinning wait: lets the core's other hardware thread run, and
 * spares the memory bus.  Nothing on ports without such a hint. */
static inline void p11l_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__) || (defined(__ARM_ARCH) && __ARM_ARCH >= 7)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

#endif
