/* The process the record's entries are tagged with, so that a forked
 * child never acts on its parent's.  getpid() is a system call each time;
 * this asks once, and the fork handler (module-table.c) makes a child ask
 * again.  A child made without fork handlers (_Fork, a raw clone) would
 * take its parent's records for its own: such a child may only exec. */
#include "config.h"

#include <unistd.h>

#include "p11logout.h"

static pid_t self;
static unsigned long forked_at;

pid_t p11l_self(void)
{
	pid_t p = __atomic_load_n(&self, __ATOMIC_RELAXED);

	if (!p) {
		p = getpid();
		__atomic_store_n(&self, p, __ATOMIC_RELAXED);
	}
	return p;
}

/* In the child, with every stripe of the session record locked
 * (module-table.c): no stamp the parent gave a session is this high. */
void p11l_self_forked(void)
{
	__atomic_store_n(&self, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&forked_at, p11l_stamp(), __ATOMIC_RELAXED);
}

unsigned long p11l_forked_at(void)
{
	return __atomic_load_n(&forked_at, __ATOMIC_RELAXED);
}
