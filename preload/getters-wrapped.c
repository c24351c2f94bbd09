/* The module's getters, seen through the library: each calls the module's
 * own getter and swaps the list it returns for the wrapped copy.  A failing
 * getter, or one that returns no list, is passed on unchanged. */
#include "config.h"

#include <string.h>

#include "p11logout.h"

static const struct {
	char name[20];
	unsigned char call;
} getters[P11L_GETTERS] = {
	[P11L_GETTER_FUNCTION_LIST] = { "C_GetFunctionList", P11L_CALL_C_GetFunctionList },
	[P11L_GETTER_INTERFACE] = { "C_GetInterface", P11L_CALL_C_GetInterface },
	[P11L_GETTER_INTERFACE_LIST] = { "C_GetInterfaceList", P11L_CALL_C_GetInterfaceList },
};

/* Which getter NAME is, or -1. */
int p11l_getter_index(const char *name)
{
	for (int i = 0; i < P11L_GETTERS; i++)
		if (strcmp(name, getters[i].name) == 0)
			return i;
	return -1;
}

/* The getter dlsym found is the module's own set's, unless a list the
 * module handed out gave that set one already. */
void p11l_set_real_getter(struct p11l_module *m, int which, void *sym)
{
	p11l_fn f = p11l_fn_of(sym);
	p11l_fn *slot = &p11l_set_at(m->index)->real[getters[which].call];

	p11l_lock();
	if (f && !*slot)
		__atomic_store_n(slot, f, __ATOMIC_RELEASE);
	p11l_unlock();
}

/* Our entry point for a getter of module M, as dlsym hands it out. */
void *p11l_wrapped_getter(struct p11l_module *m, int which)
{
	return p11l_ptr_of(p11l_entry(m->index, getters[which].call));
}

CK_RV p11l_C_GetFunctionList(unsigned set, CK_FUNCTION_LIST_PTR_PTR pp)
{
	CK_C_GetFunctionList g = (CK_C_GetFunctionList)p11l_real(set, P11L_CALL_C_GetFunctionList);
	CK_RV rv;

	if (!g)
		return CKR_FUNCTION_NOT_SUPPORTED;
	rv = g(pp);
	if (rv == CKR_OK && pp && *pp) {
		const p11l_function_list *w = p11l_wrap_list(p11l_set_module(set), *pp, 1);
		if (w)
			*pp = (CK_FUNCTION_LIST_PTR)w;
	}
	return rv;
}

CK_RV p11l_C_GetInterface(unsigned set, CK_UTF8CHAR *name, CK_VERSION *version,
			  CK_INTERFACE **iface, CK_FLAGS flags)
{
	CK_C_GetInterface g = (CK_C_GetInterface)p11l_real(set, P11L_CALL_C_GetInterface);
	CK_RV rv;

	if (!g)
		return CKR_FUNCTION_NOT_SUPPORTED;
	rv = g(name, version, iface, flags);
	if (rv == CKR_OK && iface && *iface)
		*iface = p11l_wrap_interface(p11l_set_module(set), *iface);
	return rv;
}

CK_RV p11l_C_GetInterfaceList(unsigned set, CK_INTERFACE *list, CK_ULONG *count)
{
	CK_C_GetInterfaceList g = (CK_C_GetInterfaceList)p11l_real(set, P11L_CALL_C_GetInterfaceList);
	struct p11l_module *m = p11l_set_module(set);
	CK_ULONG room = count ? *count : 0;
	CK_RV rv;

	if (!g)
		return CKR_FUNCTION_NOT_SUPPORTED;
	rv = g(list, count);
	if (rv != CKR_OK || !list || !count)
		return rv;
	/* The caller owns these entries, so only their list pointers change;
	 * interfaces other than "PKCS 11" are left as the module gave them.
	 * No further than the caller's room, whatever count the module says. */
	for (CK_ULONG i = 0; i < *count && i < room; i++) {
		if (!p11l_is_pkcs11_interface(&list[i]))
			continue;
		const p11l_function_list *w = p11l_wrap_list(m, list[i].pFunctionList, 0);
		if (w)
			list[i].pFunctionList = (CK_VOID_PTR)w;
	}
	return rv;
}
