/* The wrapped copy of a module's function list.
 *
 * The copy has exactly as many entries as the module's version says its
 * list has, so nothing past the end of the module's list is ever read; a
 * version we do not know is passed through unwrapped.  Only the session
 * lifecycle entries and the getters are replaced: every other call goes
 * straight to the module, at no cost. */
#include "config.h"

#include <string.h>

#include "p11logout.h"

static unsigned list_size(CK_VERSION v)
{
	if (v.major == 2)
		return P11L_FN_COUNT_2;
	/* 3.1 added no functions, so it shares the 3.0 layout. */
	if (v.major == 3 && (v.minor == 0 || v.minor == 1))
		return P11L_FN_COUNT_3_0;
	if (v.major == 3 && v.minor == 2)
		return P11L_FN_COUNT_3_2;
	return 0;
}

/* Where each wrapped call sits in a function list. */
#define P11L_POSITION(d, name, params, args) P11L_##name,
static const unsigned char position[P11L_CALLS] = {
	P11L_WRAPPED_CALLS(P11L_POSITION, ~)
};

/* Records the module's own entries of a list of N entries in SET, where
 * the set has none yet. */
static void take_real_entries(unsigned set, const p11l_function_list *real,
			      unsigned n)
{
	struct p11l_entry_set *s = p11l_set_at(set);

	for (unsigned c = 0; c < P11L_CALLS; c++) {
		if (position[c] < n && real->fn[position[c]] && !s->real[c])
			__atomic_store_n(&s->real[c], real->fn[position[c]],
					 __ATOMIC_RELEASE);
	}
	if (P11L_C_GetSessionInfo < n && !s->get_session_info)
		__atomic_store_n(&s->get_session_info,
				 real->fn[P11L_C_GetSessionInfo], __ATOMIC_RELEASE);
}

/* An entry the module left NULL stays NULL: the caller sees the same
 * gaps it would see without us. */
static void replace_entries(p11l_function_list *copy, unsigned n, unsigned set)
{
	for (unsigned c = 0; c < P11L_CALLS; c++) {
		if (position[c] < n && copy->fn[position[c]])
			copy->fn[position[c]] = p11l_entry(set, c);
	}
}

/* Whether SET can forward the wrapped calls of a list of N entries: each
 * entry it already forwards is the list's own. */
static int set_fits(unsigned set, const p11l_function_list *real, unsigned n)
{
	struct p11l_entry_set *s = p11l_set_at(set);

	for (unsigned c = 0; c < P11L_CALLS; c++) {
		p11l_fn f = position[c] < n ? real->fn[position[c]] : NULL;

		if (f && s->real[c] && s->real[c] != f)
			return 0;
	}
	return 1;
}

/* The entry set for a new list of M: one whose entries agree with the
 * list's, else a fresh one, so that each wrapped list forwards to its own
 * list's functions.  -1 when none is left.  Called under p11l_lock. */
static int set_for(struct p11l_module *m, const p11l_function_list *real,
		   unsigned n)
{
	for (unsigned i = 0; i < m->nsets; i++)
		if (set_fits(m->sets[i], real, n))
			return (int)m->sets[i];
	return p11l_set_new(m);
}

/* The wrapped copy of REAL, a list of module M, or NULL when it passes
 * through unwrapped.  A list from C_GetFunctionList (FROM_GETTER_2X) is a
 * 2.x CK_FUNCTION_LIST whatever its version field says (SoftHSM2 2.7.0
 * puts 3.2 there), so no more than the 2.x entries are read from it; a
 * list from an interface is as long as its version says. */
const p11l_function_list *p11l_wrap_list(struct p11l_module *m,
					 const p11l_function_list *real,
					 int from_getter_2x)
{
	const p11l_function_list *out = NULL;
	unsigned n;
	int unknown = 0, full = 0, set = -1;

	if (!real)
		return NULL;
	/* Our own copy handed back by the module (a proxy returning what it
	 * was given) is already wrapped. */
	for (unsigned i = 0; i < P11L_MAX_MODULES; i++) {
		struct p11l_module *o = p11l_module_at(i);
		if (!o)
			break;
		for (unsigned j = 0; j < P11L_LISTS_PER_MODULE; j++)
			if (real == &o->lists[j].copy)
				return real;
	}
	n = list_size(real->version);
	if (n == 0) {
		unknown = 1;
		goto out;
	}
	if (from_getter_2x && n > P11L_FN_COUNT_2)
		n = P11L_FN_COUNT_2;

	p11l_lock();
	for (unsigned i = 0; i < m->nlists; i++) {
		if (m->lists[i].real == real && m->lists[i].n == n) {
			out = &m->lists[i].copy;
			break;
		}
	}
	if (!out && m->nlists < P11L_LISTS_PER_MODULE)
		set = set_for(m, real, n);
	if (set >= 0) {
		struct p11l_wrapped_list *w = &m->lists[m->nlists];

		w->real = real;
		w->n = n;
		w->set = (unsigned)set;
		w->copy.version = real->version;
		/* Entry by entry, with a barrier the compilers do not turn
		 * into a memcpy call: memcpy would be one more symbol version
		 * (GLIBC_2.14 on x86_64), and memmove one more import, that
		 * the loader handles in every process (BENCHMARK.md). */
		for (size_t i = 0; i < n; i++) {
			w->copy.fn[i] = real->fn[i];
			__asm__ volatile("" ::: "memory");
		}
		take_real_entries(w->set, real, n);
		replace_entries(&w->copy, n, w->set);
		m->nlists++;
		out = &w->copy;
	} else if (!out) {
		full = 1;
	}
	p11l_unlock();
out:
	if (unknown)
		p11l_log("%s: function list version %u.%u is unknown; passed through unwrapped",
			 m->path, real->version.major, real->version.minor);
	else if (full)
		p11l_log("%s: no room for another function list (%d per module, %d sets of entry points); this one passes through unwrapped",
			 m->path, P11L_LISTS_PER_MODULE, P11L_MAX_ENTRY_SETS);
	return out;
}

int p11l_is_pkcs11_interface(const CK_INTERFACE *iface)
{
	return iface && iface->pInterfaceName &&
	       strcmp((const char *)iface->pInterfaceName, P11L_INTERFACE_NAME) == 0;
}

CK_INTERFACE *p11l_wrap_interface(struct p11l_module *m, CK_INTERFACE *real)
{
	const p11l_function_list *list;
	CK_INTERFACE *out = real;

	if (!p11l_is_pkcs11_interface(real))
		return real;
	list = p11l_wrap_list(m, real->pFunctionList, 0);
	if (!list || list == real->pFunctionList)
		return real;

	p11l_lock();
	for (unsigned i = 0; i < m->nlists; i++) {
		struct p11l_wrapped_list *w = &m->lists[i];

		if (&w->copy != list)
			continue;
		if (!w->iface_set) {
			w->iface.pInterfaceName = real->pInterfaceName;
			w->iface.pFunctionList = &w->copy;
			w->iface.flags = real->flags;
			w->iface_set = 1;
		}
		out = &w->iface;
		break;
	}
	p11l_unlock();
	return out;
}
