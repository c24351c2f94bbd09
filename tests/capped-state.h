/* Shared device-session accounting of the session-capped test fixture.
 *
 * The state directory holds one file, "sessions", with one line per device
 * session that is taken.  Every reader and writer holds an exclusive flock
 * on that file, so processes running at once count against one pool.
 *
 *   capped-sessions v1
 *   <pid> <process start time in clock ticks> <slot id> <login time in ms>
 *
 * The process start time (field 22 of /proc/PID/stat) tells a live owner
 * from a later process that reused its pid. */
#ifndef CAPPED_STATE_H
#define CAPPED_STATE_H

#include <stddef.h>

#define CAPPED_STATE_FILE "sessions"
#define CAPPED_STATE_MAGIC "capped-sessions v1"
/* Beside the pool: one line per login refused for a full pool, and the
 * most device sessions taken at once (capped-count --reset clears both). */
#define CAPPED_REFUSED_FILE "refused"
#define CAPPED_PEAK_FILE "peak"

struct capped_record {
	long pid;
	unsigned long long start;
	unsigned long slot;
	long long login_ms;
};

struct capped_state {
	struct capped_record *rec;
	size_t n;
	size_t cap;
};

/* Each of these returns 0 on success; on failure -1 with a message that
 * names the file and the reason in err. */

/* Opens DIR/sessions (creating it) and locks it exclusively. */
int capped_state_lock(const char *dir, int *fd, char *err, size_t errlen);
/* Reads every record; st must be zeroed or previously freed. */
int capped_state_read(int fd, struct capped_state *st, char *err,
		      size_t errlen);
/* Replaces the file's content with st. */
int capped_state_write(int fd, const struct capped_state *st, char *err,
		       size_t errlen);
/* Unlocks and closes. */
void capped_state_unlock(int fd);
void capped_state_free(struct capped_state *st);

int capped_state_add(struct capped_state *st, const struct capped_record *r);
void capped_state_remove(struct capped_state *st, size_t i);
/* Index of the record of this process and slot, or -1. */
long capped_state_find(const struct capped_state *st, long pid,
		       unsigned long long start, unsigned long slot);

/* Removes records whose process is gone and that are at least expiry_s
 * seconds old; returns how many it removed.  expiry_s <= 0 removes none. */
size_t capped_state_expire(struct capped_state *st, long expiry_s,
			   long long now_ms);

/* Start time of a process from /proc; 0 on success. */
int capped_process_start(long pid, unsigned long long *start);
/* Whether the process that owns a record still runs (zombies count as
 * gone). */
int capped_process_alive(long pid, unsigned long long start);
long long capped_now_ms(void);

/* Parses a non-negative decimal number that fits a long; 0 on success. */
int capped_parse_ulong(const char *s, long max, long *out);

#endif
