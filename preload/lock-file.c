/* The lock files of the wait queue and of the session places, one set per
 * user and module: in $XDG_RUNTIME_DIR, the user's own, when it is set
 * (and if it is unusable there, none); else in /run/lock, else /tmp.  In a
 * shared directory another user could create our name first, so the file
 * must be ours, a plain file, and not a link (O_NOFOLLOW): a file that is
 * not is refused, never followed or used.
 *
 * A lock belongs to the open file, which a fork shares: a child would keep
 * its parent's lock (a place, an asker's turn) for as long as it lives,
 * after the parent gave it back or ended.  So the descriptors the process
 * holds locked are kept in one table, and a forked child closes its copies
 * of them; the table's mutex is taken around fork, so the child finds it
 * whole. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "p11logout.h"
#include "libc-late.h"

int p11l_lock_file(const char *kind, const char *module, const char *tail)
{
	const char *xdg = p11l_libc.secure_getenv("XDG_RUNTIME_DIR");
	const char *dirs[2] = { "/run/lock", "/tmp" };
	uint64_t h = 14695981039346656037u;	/* FNV-1a */
	uid_t uid = p11l_libc.geteuid();
	char path[4096];
	struct stat st;

	if (xdg && xdg[0] == '/')
		dirs[0] = xdg, dirs[1] = NULL;
	for (const char *p = module ? module : ""; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211u;
	for (int i = 0; i < 2 && dirs[i]; i++) {
		int n, fd;

		n = p11l_libc.snprintf(path, sizeof path, "%s/p11logout-%s-%lu-%016llx%s",
			     dirs[i], kind, (unsigned long)uid, (unsigned long long)h, tail);
		if (n < 0 || (size_t)n >= sizeof path)
			continue;
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
		if (fd < 0) {
			if (errno == ELOOP)
				p11l_log("%s: a symbolic link: refused", path);
			continue;
		}
		if (p11l_libc.fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == uid)
			return fd;
		p11l_log("%s: not a plain file of uid %lu: refused", path, (unsigned long)uid);
		close(fd);
	}
	return -1;
}

/* An OFD lock (CMD F_OFD_SETLK, F_OFD_SETLKW) of TYPE on LEN bytes from
 * START: 0 when done, -1 when not.  With F_OFD_GETLK: 1 when no other
 * open file holds a lock there, 0 when one does, -1 on error. */
int p11l_range_lock(int fd, int cmd, short type, off_t start, off_t len)
{
	struct flock fl;

	memset(&fl, 0, sizeof fl);
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = start;
	fl.l_len = len;
	if (p11l_libc.fcntl(fd, cmd, &fl) != 0)
		return -1;
	return cmd == F_OFD_GETLK ? fl.l_type == F_UNLCK : 0;
}

/* Room for 8 askers' turns and 16 places (logins to distinct slots). */
#define HELD_MAX 24

static pthread_mutex_t held_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct {
	const void *owner;
	unsigned long key;
	int fd;
} held[HELD_MAX];
static int nheld;

static void fork_prepare(void)
{
	pthread_mutex_lock(&held_mutex);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&held_mutex);
}

/* The parent's locks stay the parent's. */
static void fork_child(void)
{
	for (int i = 0; i < nheld; i++)
		close(held[i].fd);
	nheld = 0;
	pthread_mutex_unlock(&held_mutex);
}

static void register_fork(void)
{
	p11l_atfork(fork_prepare, fork_parent, fork_child);
}

/* Registered here, at the first use, and not in a constructor: a process
 * that never waits and has no limit registers nothing. */
static void held_lock(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, register_fork);
	pthread_mutex_lock(&held_mutex);
}

static int held_find(const void *owner, unsigned long key)
{
	for (int i = 0; i < nheld; i++)
		if (held[i].owner == owner && held[i].key == key)
			return i;
	return -1;
}

int p11l_lock_hold(int fd, const void *owner, unsigned long key)
{
	int kept = 0;

	held_lock();
	if (nheld < HELD_MAX && held_find(owner, key) < 0) {
		held[nheld].owner = owner;
		held[nheld].key = key;
		held[nheld++].fd = fd;
		kept = 1;
	}
	pthread_mutex_unlock(&held_mutex);
	return kept;
}

int p11l_lock_held(const void *owner, unsigned long key)
{
	int i;

	held_lock();
	i = held_find(owner, key);
	pthread_mutex_unlock(&held_mutex);
	return i >= 0;
}

void p11l_lock_unhold(const void *owner, const unsigned long *key, int close_them)
{
	held_lock();
	for (int i = 0; i < nheld;) {
		if (held[i].owner == owner && (!key || held[i].key == *key)) {
			/* Under the mutex: a fork between the two would leave
			 * the child a copy no one closes. */
			if (close_them)
				close(held[i].fd);
			held[i] = held[--nheld];
		} else {
			i++;
		}
	}
	pthread_mutex_unlock(&held_mutex);
}
