/* capped-count: how many device sessions of the session-capped fixture are
 * taken.
 *
 *   capped-count [--list | --reset] [STATE_DIR]
 *
 * STATE_DIR defaults to $CAPPED_STATE_DIR.  Prints the number of taken
 * device sessions; --list also prints one line per session (pid, process
 * start time, slot, login time in ms, and whether the process still runs);
 * --reset gives every session back and clears the counts of refusals and
 * the peak.  Honours CAPPED_IDLE_EXPIRY as the
 * module does.  Exit status 0, or 2 on bad usage or unreadable state. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capped-state.h"

static int usage(void)
{
	fprintf(stderr, "usage: capped-count [--list | --reset] [STATE_DIR]\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *dir = getenv("CAPPED_STATE_DIR");
	const char *expiry_s = getenv("CAPPED_IDLE_EXPIRY");
	struct capped_state st = { 0 };
	char err[4096];
	int list = 0, reset = 0, fd, changed = 0;
	long expiry = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--list") == 0)
			list = 1;
		else if (strcmp(argv[i], "--reset") == 0)
			reset = 1;
		else if (argv[i][0] == '-')
			return usage();
		else if (i == argc - 1)
			dir = argv[i];
		else
			return usage();
	}
	if (list && reset)
		return usage();
	if (dir == NULL || *dir == '\0') {
		fprintf(stderr, "capped-count: no STATE_DIR and "
			"CAPPED_STATE_DIR is not set\n");
		return 2;
	}
	if (expiry_s != NULL && *expiry_s != '\0' &&
	    capped_parse_ulong(expiry_s, 86400L * 365, &expiry) != 0) {
		fprintf(stderr, "capped-count: CAPPED_IDLE_EXPIRY=\"%s\" is "
			"not a number\n", expiry_s);
		return 2;
	}
	if (capped_state_lock(dir, &fd, err, sizeof err) != 0) {
		fprintf(stderr, "capped-count: %s\n", err);
		return 2;
	}
	if (capped_state_read(fd, &st, err, sizeof err) != 0) {
		fprintf(stderr, "capped-count: %s/%s: %s\n", dir,
			CAPPED_STATE_FILE, err);
		capped_state_unlock(fd);
		return 2;
	}
	if (capped_state_expire(&st, expiry, capped_now_ms()) > 0)
		changed = 1;
	if (reset) {
		char path[4096];

		st.n = 0;
		changed = 1;
		snprintf(path, sizeof path, "%s/%s", dir, CAPPED_REFUSED_FILE);
		unlink(path);
		snprintf(path, sizeof path, "%s/%s", dir, CAPPED_PEAK_FILE);
		unlink(path);
	}
	if (changed && capped_state_write(fd, &st, err, sizeof err) != 0) {
		fprintf(stderr, "capped-count: %s/%s: %s\n", dir,
			CAPPED_STATE_FILE, err);
		capped_state_free(&st);
		capped_state_unlock(fd);
		return 2;
	}
	printf("%zu\n", st.n);
	for (size_t i = 0; list && i < st.n; i++)
		printf("%ld %llu %lu %lld %s\n", st.rec[i].pid,
		       st.rec[i].start, st.rec[i].slot, st.rec[i].login_ms,
		       capped_process_alive(st.rec[i].pid, st.rec[i].start) ?
		       "running" : "gone");
	capped_state_free(&st);
	capped_state_unlock(fd);
	return 0;
}
