/* Times one command as whole processes under several settings, in turn,
 * and compares the settings round by round (make bench).
 *
 * Usage: bench-pair ROUNDS [VAR=VALUE...] + [VAR=VALUE...] [+ ...] -- COMMAND [ARG...]
 *
 * Each "+"-separated group is a side: the variables set in the child on
 * top of this program's environment (an empty group: none).  A round runs
 * every side once, its order turned by one each round, so that no side is
 * always the one after another; one round first is not counted.  The
 * child's output goes to /dev/null.  Wall time is fork to reap, CPU time
 * the child's user + system time (wait4).
 *
 * A pair of runs in one round shares the machine's state of that moment,
 * so the ratio of the pair cancels a drift of the machine's speed that
 * the medians of each side taken apart keep.  Prints "failed N" (runs
 * that did not exit 0), then per side "side K wall MEDIAN LOW HIGH cpu
 * MEDIAN LOW HIGH" in microseconds, then per pair of sides I < J "ratio
 * J/I wall M L H cpu M L H diff_us wall M L H cpu M L H": the median over
 * the rounds of run J against run I, as a ratio and as a difference.  LOW
 * and HIGH bound each median with 95 % confidence (order statistics:
 * distribution-free, assuming only that the rounds are independent). */
#include "config.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_SIDES 8

struct side {
	char **set;
	int n;
};

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

/* One run of COMMAND under S: wall and CPU microseconds, or -1. */
static int run(const struct side *s, char **cmd, double *wall, double *cpu)
{
	struct rusage ru;
	double t0 = now_us();
	int st;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR);

		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		for (int i = 0; i < s->n; i++)
			putenv(s->set[i]);
		execvp(cmd[0], cmd);
		_exit(127);
	}
	if (wait4(pid, &st, 0, &ru) != pid)
		return -1;
	*wall = now_us() - t0;
	*cpu = (double)ru.ru_utime.tv_sec * 1e6 + (double)ru.ru_utime.tv_usec +
	       (double)ru.ru_stime.tv_sec * 1e6 + (double)ru.ru_stime.tv_usec;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Sorts V and prints " MEDIAN LOW HIGH": LOW and HIGH the order statistics
 * of ranks n/2 -+ 0.98 sqrt(n) (1.96 / 2; the binomial's normal
 * approximation, fine from a few tens of rounds on), which hold the
 * median with 95 % confidence. */
static void median_ci(double *v, int n, int digits)
{
	int lo, hi;
	double m;

	qsort(v, (size_t)n, sizeof *v, by_value);
	m = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	lo = (int)floor(n / 2.0 - 0.98 * sqrt((double)n)) - 1;
	hi = (int)ceil(n / 2.0 + 0.98 * sqrt((double)n));
	if (lo < 0)
		lo = 0;
	if (hi > n - 1)
		hi = n - 1;
	printf(" %.*f %.*f %.*f", digits, m, digits, v[lo], digits, v[hi]);
}

/* Side S's times over the rounds (T holds K a round). */
static void column(const double *t, int k, int rounds, int s, double *v)
{
	for (int r = 0; r < rounds; r++)
		v[r] = t[r * k + s];
	median_ci(v, rounds, 0);
}

/* Side J against side I round by round: the ratio, or the difference. */
static void pair(const double *t, int k, int rounds, int i, int j, int ratio, double *v)
{
	for (int r = 0; r < rounds; r++) {
		double a = t[r * k + i], b = t[r * k + j];

		v[r] = ratio ? (a > 0 ? b / a : 1) : b - a;
	}
	median_ci(v, rounds, ratio ? 4 : 1);
}

int main(int argc, char **argv)
{
	struct side sides[MAX_SIDES];
	int k = 0, rounds, failed = 0, a = 2;
	double *wall, *cpu, *v;

	if (argc < 4 || (rounds = atoi(argv[1])) < 1) {
		fprintf(stderr, "usage: bench-pair ROUNDS [VAR=VALUE...] + [VAR=VALUE...] -- COMMAND [ARG...]\n");
		return 2;
	}
	sides[0].set = argv + a;
	sides[0].n = 0;
	for (; a < argc && strcmp(argv[a], "--") != 0; a++) {
		if (strcmp(argv[a], "+") == 0) {
			if (++k == MAX_SIDES) {
				fprintf(stderr, "bench-pair: at most %d sides\n", MAX_SIDES);
				return 2;
			}
			sides[k].set = argv + a + 1;
			sides[k].n = 0;
		} else {
			sides[k].n++;
		}
	}
	k++;
	if (a + 1 >= argc || k < 2) {
		fprintf(stderr, "bench-pair: two sides or more, then -- COMMAND\n");
		return 2;
	}
	char **cmd = argv + a + 1;

	wall = calloc((size_t)(rounds * k), sizeof *wall);
	cpu = calloc((size_t)(rounds * k), sizeof *cpu);
	v = calloc((size_t)rounds, sizeof *v);
	if (!wall || !cpu || !v)
		return 1;
	for (int r = -1; r < rounds; r++) {
		for (int j = 0; j < k; j++) {
			int s = (r + 1 + j) % k;
			double w, c;
			int rc = run(&sides[s], cmd, &w, &c);

			if (rc < 0) {
				perror("bench-pair");
				return 1;
			}
			if (r < 0)
				continue;
			failed += rc;
			wall[r * k + s] = w;
			cpu[r * k + s] = c;
		}
	}
	printf("failed %d\n", failed);
	for (int s = 0; s < k; s++) {
		printf("side %d wall", s);
		column(wall, k, rounds, s, v);
		printf(" cpu");
		column(cpu, k, rounds, s, v);
		putchar('\n');
	}
	for (int i = 0; i < k; i++)
		for (int j = i + 1; j < k; j++) {
			printf("ratio %d/%d wall", j, i);
			pair(wall, k, rounds, i, j, 1, v);
			printf(" cpu");
			pair(cpu, k, rounds, i, j, 1, v);
			printf(" diff_us wall");
			pair(wall, k, rounds, i, j, 0, v);
			printf(" cpu");
			pair(cpu, k, rounds, i, j, 0, v);
			putchar('\n');
		}
	return 0;
}
