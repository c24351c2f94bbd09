/* One record per module, found by the load address of its getter's
 * object, so that an engine and a provider loading the same module share
 * one set of wrapped lists and one login record. */
#include "config.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "p11logout.h"
#include "libc-late.h"

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct p11l_module *modules[P11L_MAX_MODULES];
static unsigned nmodules;
static int table_full_reported;
/* Allocated at the first module, like the entry points' table: zeroed in
 * .bss, the two would cost every process one more mapping at load. */
struct p11l_entry_set *p11l_sets;
/* Sets past P11L_MAX_MODULES handed out so far. */
static unsigned nextra;

void p11l_lock(void)
{
	pthread_mutex_lock(&table_lock);
}

void p11l_unlock(void)
{
	pthread_mutex_unlock(&table_lock);
}

/* A fork while another thread holds the lock would leave the child with a
 * lock no one will release: take it around fork().  Registered at the first
 * module seen, so processes without PKCS#11 have no fork handler of ours. */
static void atfork_prepare(void)
{
	pthread_mutex_lock(&table_lock);
	for (unsigned i = 0; i < nmodules; i++)
		p11l_sessions_lock_all(modules[i]);
}

static void atfork_release(void)
{
	for (unsigned i = nmodules; i-- > 0;)
		p11l_sessions_unlock_all(modules[i]);
	pthread_mutex_unlock(&table_lock);
}

/* The child's own identity for the record, and the locks it inherited
 * taken. */
static void atfork_child(void)
{
	p11l_self_forked();
	atfork_release();
}

/* At the first module seen: the banner of the debug log, and the fork
 * handler. */
static void first_module(void)
{
	p11l_config_banner();
	p11l_atfork(atfork_prepare, atfork_release, atfork_child);
}

static void sets_alloc(void)
{
	p11l_sets = calloc(P11L_MAX_ENTRY_SETS, sizeof *p11l_sets);
}

/* Out of memory for the tables at the first module: every module passes
 * through unwrapped, as past the table's end. */
static int tables_ready(const char *path)
{
	static pthread_once_t sets_once = PTHREAD_ONCE_INIT;
	static int reported;

	pthread_once(&sets_once, sets_alloc);
	if (p11l_sets && p11l_entry_table_ready())
		return 1;
	if (!__atomic_exchange_n(&reported, 1, __ATOMIC_ACQ_REL))
		p11l_warn("%s: out of memory for the module table; this module and later ones pass through unwrapped",
			  path);
	return 0;
}

struct p11l_module *p11l_module_at(unsigned index)
{
	return index < P11L_MAX_MODULES ?
		__atomic_load_n(&modules[index], __ATOMIC_ACQUIRE) : NULL;
}

unsigned p11l_module_count(void)
{
	return __atomic_load_n(&nmodules, __ATOMIC_ACQUIRE);
}

struct p11l_entry_set *p11l_set_at(unsigned set)
{
	return &p11l_sets[set];
}

/* A further entry set for M, whose lists disagree about their functions,
 * or -1.  Called under p11l_lock. */
int p11l_set_new(struct p11l_module *m)
{
	unsigned set = P11L_MAX_MODULES + nextra;

	if (set >= P11L_MAX_ENTRY_SETS || m->nsets >= P11L_LISTS_PER_MODULE)
		return -1;
	nextra++;
	__atomic_store_n(&p11l_sets[set].module, m, __ATOMIC_RELEASE);
	m->sets[m->nsets++] = set;
	return (int)set;
}

/* The entry set a release of M calls through: our entry points, so the
 * record follows the calls, of the list the program last logged in with. */
unsigned p11l_release_set(struct p11l_module *m)
{
	return __atomic_load_n(&m->release_set, __ATOMIC_ACQUIRE);
}

struct p11l_module *p11l_module_for_getter(void *getter)
{
	Dl_info info;
	const void *base = getter;
	const char *path = NULL;
	struct p11l_module *m = NULL, *fresh = NULL;

	/* Reading the configuration here, at the first module, keeps the
	 * library from doing any work in processes that never use PKCS#11. */
	static pthread_once_t first_once = PTHREAD_ONCE_INIT;
	const char *missing;

	p11l_config();
	missing = p11l_libc_missing();
	if (missing) {
		static int reported;

		if (!__atomic_exchange_n(&reported, 1, __ATOMIC_ACQ_REL))
			p11l_warn("cannot find %s in the C library; modules pass through unwrapped",
				  missing);
		return NULL;
	}
	pthread_once(&first_once, first_module);

	if (p11l_libc.dladdr(getter, &info) && info.dli_fbase) {
		base = info.dli_fbase;
		path = info.dli_fname;
	}

	if (!p11l_module_selected(path)) {
		p11l_log("%s: not in P11LOGOUT_MODULES; passed through", path ? path : "(unknown module)");
		return NULL;
	}
	if (!tables_ready(path ? path : "(unknown module)"))
		return NULL;

	p11l_lock();
	for (unsigned i = 0; i < nmodules; i++) {
		/* A module dlclose()d and another object mapped at its address
		 * later is not the same module. */
		if (modules[i]->base == base &&
		    strcmp(modules[i]->path, path && *path ? path : "(unknown module)") == 0) {
			m = modules[i];
			break;
		}
	}
	if (!m && nmodules < P11L_MAX_MODULES) {
		fresh = calloc(1, sizeof *fresh);
		if (fresh)
			fresh->path = strdup(path && *path ? path : "(unknown module)");
		if (fresh && fresh->path && !p11l_sessions_init(fresh)) {
			free(fresh->path);
			fresh->path = NULL;
		}
		if (fresh && fresh->path) {
			fresh->index = nmodules;
			fresh->base = base;
			fresh->release_set = nmodules;
			fresh->sets[0] = nmodules;
			fresh->nsets = 1;
			__atomic_store_n(&p11l_sets[nmodules].module, fresh, __ATOMIC_RELEASE);
			__atomic_store_n(&modules[nmodules], fresh, __ATOMIC_RELEASE);
			__atomic_store_n(&nmodules, nmodules + 1, __ATOMIC_RELEASE);
			m = fresh;
		} else if (fresh) {
			free(fresh);
			fresh = NULL;
		}
	}
	int report_full = !m && !table_full_reported;
	if (report_full)
		table_full_reported = 1;
	p11l_unlock();

	if (fresh)
		p11l_log("%s: module %u recorded", fresh->path, fresh->index);
	else if (report_full)
		p11l_log("%s: more than %d modules; this one and later ones pass through unwrapped",
			 path ? path : "(unknown module)", P11L_MAX_MODULES);
	return m;
}
