/* bench-sessions MODULE HELD PAIRS THREADS: opens HELD sessions and keeps
 * them, then THREADS threads open and close PAIRS sessions between them;
 * prints the wall time per open+close pair in ns.  The record's cost per
 * call, against the same run without the library (tests/bench.sh).
 *
 * bench-sessions MODULE churn N: opens N sessions, closes two thirds of
 * them in a shuffled order, and exits with the rest open
 * (tests/record-many.sh). */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "driver-common.h"

static CK_FUNCTION_LIST *fl;
static long per_thread;

static void *pairs(void *arg)
{
	CK_SESSION_HANDLE h;

	(void)arg;
	for (long i = 0; i < per_thread; i++) {
		if (DRIVER_CALL(fl, C_OpenSession)(1, CKF_SERIAL_SESSION, NULL, NULL, &h) != CKR_OK ||
		    DRIVER_CALL(fl, C_CloseSession)(h) != CKR_OK) {
			fprintf(stderr, "bench-sessions: a call failed\n");
			exit(1);
		}
	}
	return NULL;
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int load(const char *path)
{
	CK_C_GetFunctionList get = (CK_C_GetFunctionList)driver_sym(
		driver_dlopen("bench-sessions", path), "C_GetFunctionList");

	return get && get(&fl) == CKR_OK && DRIVER_CALL(fl, C_Initialize)(NULL) == CKR_OK;
}

static int churn(long n)
{
	CK_SESSION_HANDLE *h = calloc((size_t)n, sizeof *h);
	unsigned x = 12345;

	if (!h)
		return 1;
	for (long i = 0; i < n; i++)
		if (DRIVER_CALL(fl, C_OpenSession)(1, CKF_SERIAL_SESSION, NULL, NULL, &h[i]) != CKR_OK)
			return 1;
	for (long i = n - 1; i > 0; i--) {
		long j;
		CK_SESSION_HANDLE t;

		x = x * 1103515245u + 12345u;
		j = (long)((x >> 8) % (unsigned)(i + 1));
		t = h[i], h[i] = h[j], h[j] = t;
	}
	for (long i = 0; i < n * 2 / 3; i++)
		if (DRIVER_CALL(fl, C_CloseSession)(h[i]) != CKR_OK)
			return 1;
	free(h);
	printf("%ld open\n", n - n * 2 / 3);
	return 0;
}

int main(int argc, char **argv)
{
	pthread_t t[64];
	CK_SESSION_HANDLE h;
	long held, n, threads;
	double t0;

	if (argc == 4 && strcmp(argv[2], "churn") == 0)
		return load(argv[1]) ? churn(atol(argv[3])) : 1;
	if (argc != 5 || (held = atol(argv[2])) < 0 || (n = atol(argv[3])) < 1 ||
	    (threads = atol(argv[4])) < 1 || threads > 64) {
		fprintf(stderr, "usage: bench-sessions MODULE HELD PAIRS THREADS\n");
		return 2;
	}
	if (!load(argv[1]))
		return 1;
	for (long i = 0; i < held; i++)
		if (DRIVER_CALL(fl, C_OpenSession)(1, CKF_SERIAL_SESSION, NULL, NULL, &h) != CKR_OK)
			return 1;
	per_thread = n / threads;
	t0 = now_ns();
	for (long i = 0; i < threads; i++)
		if (pthread_create(&t[i], NULL, pairs, NULL) != 0)
			return 1;
	for (long i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	printf("%.1f\n", (now_ns() - t0) / (double)(per_thread * threads));
	return 0;
}
