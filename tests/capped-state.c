/* Shared device-session accounting of the session-capped test fixture; see
 * capped-state.h for the file format. */
#include "config.h"

#include "capped-state.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int capped_state_lock(const char *dir, int *fd, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct stat sb;

	if (stat(dir, &sb) != 0) {
		snprintf(err, errlen, "state directory %s: %s", dir,
			 strerror(errno));
		return -1;
	}
	if (!S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "state directory %s: not a directory",
			 dir);
		return -1;
	}
	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir,
			     CAPPED_STATE_FILE) >= sizeof path) {
		snprintf(err, errlen, "state directory %s: path too long",
			 dir);
		return -1;
	}
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (*fd < 0) {
		snprintf(err, errlen, "state file %s: %s", path,
			 strerror(errno));
		return -1;
	}
	while (flock(*fd, LOCK_EX) != 0) {
		if (errno == EINTR)
			continue;
		snprintf(err, errlen, "state file %s: cannot lock: %s", path,
			 strerror(errno));
		close(*fd);
		*fd = -1;
		return -1;
	}
	return 0;
}

void capped_state_unlock(int fd)
{
	if (fd >= 0) {
		flock(fd, LOCK_UN);
		close(fd);
	}
}

void capped_state_free(struct capped_state *st)
{
	free(st->rec);
	st->rec = NULL;
	st->n = st->cap = 0;
}

int capped_state_add(struct capped_state *st, const struct capped_record *r)
{
	if (st->n == st->cap) {
		size_t cap = st->cap ? st->cap * 2 : 16;
		struct capped_record *rec =
			realloc(st->rec, cap * sizeof *rec);
		if (rec == NULL)
			return -1;
		st->rec = rec;
		st->cap = cap;
	}
	st->rec[st->n++] = *r;
	return 0;
}

void capped_state_remove(struct capped_state *st, size_t i)
{
	if (i >= st->n)
		return;
	memmove(&st->rec[i], &st->rec[i + 1],
		(st->n - i - 1) * sizeof st->rec[0]);
	st->n--;
}

long capped_state_find(const struct capped_state *st, long pid,
		       unsigned long long start, unsigned long slot)
{
	for (size_t i = 0; i < st->n; i++)
		if (st->rec[i].pid == pid && st->rec[i].start == start &&
		    st->rec[i].slot == slot)
			return (long)i;
	return -1;
}

static int parse_line(char *line, struct capped_record *r)
{
	char *end;

	errno = 0;
	r->pid = strtol(line, &end, 10);
	if (errno || end == line || *end != ' ' || r->pid <= 0)
		return -1;
	line = end + 1;
	r->start = strtoull(line, &end, 10);
	if (errno || end == line || *end != ' ')
		return -1;
	line = end + 1;
	r->slot = strtoul(line, &end, 10);
	if (errno || end == line || *end != ' ')
		return -1;
	line = end + 1;
	r->login_ms = strtoll(line, &end, 10);
	if (errno || end == line || *end != '\0' || r->login_ms < 0)
		return -1;
	return 0;
}

int capped_state_read(int fd, struct capped_state *st, char *err,
		      size_t errlen)
{
	struct stat sb;
	char *buf, *line, *next;
	size_t got = 0;
	unsigned lineno = 0;

	if (fstat(fd, &sb) != 0) {
		snprintf(err, errlen, "state file: %s", strerror(errno));
		return -1;
	}
	if (sb.st_size > 16 * 1024 * 1024) {
		snprintf(err, errlen, "state file: unreasonably large");
		return -1;
	}
	buf = malloc((size_t)sb.st_size + 1);
	if (buf == NULL) {
		snprintf(err, errlen, "state file: out of memory");
		return -1;
	}
	while (got < (size_t)sb.st_size) {
		ssize_t r = pread(fd, buf + got, (size_t)sb.st_size - got,
				  (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			snprintf(err, errlen, "state file: cannot read: %s",
				 r < 0 ? strerror(errno) : "short read");
			free(buf);
			return -1;
		}
		got += (size_t)r;
	}
	buf[got] = '\0';
	if (got == 0) { /* a new pool */
		free(buf);
		return 0;
	}
	if (memchr(buf, '\0', got) != NULL) {
		snprintf(err, errlen, "state file: contains a NUL byte");
		free(buf);
		return -1;
	}
	for (line = buf; *line != '\0'; line = next) {
		struct capped_record r;
		char *nl = strchr(line, '\n');

		lineno++;
		if (nl == NULL) {
			snprintf(err, errlen,
				 "state file: line %u is not terminated",
				 lineno);
			goto bad;
		}
		*nl = '\0';
		next = nl + 1;
		if (lineno == 1) {
			if (strcmp(line, CAPPED_STATE_MAGIC) != 0) {
				snprintf(err, errlen,
					 "state file: does not start with "
					 "\"%s\"", CAPPED_STATE_MAGIC);
				goto bad;
			}
			continue;
		}
		if (parse_line(line, &r) != 0) {
			snprintf(err, errlen,
				 "state file: line %u is malformed", lineno);
			goto bad;
		}
		if (capped_state_add(st, &r) != 0) {
			snprintf(err, errlen, "state file: out of memory");
			goto bad;
		}
	}
	free(buf);
	return 0;
bad:
	free(buf);
	capped_state_free(st);
	return -1;
}

int capped_state_write(int fd, const struct capped_state *st, char *err,
		       size_t errlen)
{
	size_t size = sizeof CAPPED_STATE_MAGIC + 1 + st->n * 96, len;
	char *buf = malloc(size);
	size_t done = 0;

	if (buf == NULL) {
		snprintf(err, errlen, "state file: out of memory");
		return -1;
	}
	len = (size_t)snprintf(buf, size, "%s\n", CAPPED_STATE_MAGIC);
	for (size_t i = 0; i < st->n; i++)
		len += (size_t)snprintf(buf + len, size - len,
					"%ld %llu %lu %lld\n", st->rec[i].pid,
					st->rec[i].start, st->rec[i].slot,
					st->rec[i].login_ms);
	while (done < len) {
		ssize_t w = pwrite(fd, buf + done, len - done, (off_t)done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			snprintf(err, errlen, "state file: cannot write: %s",
				 w < 0 ? strerror(errno) : "short write");
			free(buf);
			return -1;
		}
		done += (size_t)w;
	}
	free(buf);
	if (ftruncate(fd, (off_t)len) != 0) {
		snprintf(err, errlen, "state file: cannot truncate: %s",
			 strerror(errno));
		return -1;
	}
	return 0;
}

size_t capped_state_expire(struct capped_state *st, long expiry_s,
			   long long now_ms)
{
	size_t freed = 0;

	if (expiry_s <= 0)
		return 0;
	for (size_t i = 0; i < st->n;) {
		const struct capped_record *r = &st->rec[i];
		if (now_ms - r->login_ms >= (long long)expiry_s * 1000 &&
		    !capped_process_alive(r->pid, r->start)) {
			capped_state_remove(st, i);
			freed++;
		} else {
			i++;
		}
	}
	return freed;
}

/* Reads /proc/PID/stat: the state (field 3) and start time (field 22). */
static int read_proc_stat(long pid, char *state, unsigned long long *start)
{
	char path[64], buf[1024], *p;
	FILE *f;
	size_t n;
	int field;

	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	f = fopen(path, "re");
	if (f == NULL)
		return -1;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: skip to the
	 * last ')'. */
	p = strrchr(buf, ')');
	if (p == NULL || p[1] != ' ')
		return -1;
	p += 2;
	*state = *p;
	for (field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (p == NULL)
			return -1;
		p++;
	}
	errno = 0;
	*start = strtoull(p, NULL, 10);
	return errno ? -1 : 0;
}

int capped_process_start(long pid, unsigned long long *start)
{
	char state;
	return read_proc_stat(pid, &state, start);
}

int capped_process_alive(long pid, unsigned long long start)
{
	char state;
	unsigned long long now_start;

	if (read_proc_stat(pid, &state, &now_start) != 0)
		return 0;
	return now_start == start && state != 'Z' && state != 'X';
}

long long capped_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int capped_parse_ulong(const char *s, long max, long *out)
{
	char *end;
	long v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end != '\0' || v < 0 || v > max)
		return -1;
	*out = v;
	return 0;
}
