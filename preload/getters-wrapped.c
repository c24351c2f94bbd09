/* The module's getters, seen through the library: each calls the module's
 * own getter and swaps the list it returns for the wrapped copy.  A failing
 * getter, or one that returns no list, is passed on unchanged. */
#include "config.h"

#include <string.h>

#include "p11logout.h"

static const struct {
	char name[20];
	unsigned list_index;
} getters[P11L_GETTERS] = {
	[P11L_GETTER_FUNCTION_LIST] = { "C_GetFunctionList", P11L_C_GetFunctionList },
	[P11L_GETTER_INTERFACE] = { "C_GetInterface", P11L_C_GetInterface },
	[P11L_GETTER_INTERFACE_LIST] = { "C_GetInterfaceList", P11L_C_GetInterfaceList },
};

/* Which getter NAME is, or -1. */
int p11l_getter_index(const char *name)
{
	for (int i = 0; i < P11L_GETTERS; i++)
		if (strcmp(name, getters[i].name) == 0)
			return i;
	return -1;
}

void p11l_set_real_getter(struct p11l_module *m, int which, void *sym)
{
	p11l_fn f;

	memcpy(&f, &sym, sizeof f);
	__atomic_store_n(&m->real_getter[which], f, __ATOMIC_RELEASE);
}

/* Our entry point for a getter of the module whose entries are E. */
void *p11l_wrapped_getter(const struct p11l_entries *e, int which)
{
	void *p;

	switch (which) {
	case P11L_GETTER_FUNCTION_LIST:
		memcpy(&p, &e->get_function_list, sizeof p);
		break;
	case P11L_GETTER_INTERFACE:
		memcpy(&p, &e->get_interface, sizeof p);
		break;
	default:
		memcpy(&p, &e->get_interface_list, sizeof p);
		break;
	}
	return p;
}

/* The module's getter: as dlsym found it, or else the member of a list
 * the module handed out (a caller that asked the list for a list). */
static p11l_fn real_getter(struct p11l_module *m, int which)
{
	p11l_fn f = __atomic_load_n(&m->real_getter[which], __ATOMIC_ACQUIRE);

	return f ? f : p11l_real_fn(m, getters[which].list_index);
}

#define REAL_GETTER(m, which, type, var) \
	type var; \
	do { p11l_fn f_ = real_getter(m, which); memcpy(&var, &f_, sizeof var); } while (0)

CK_RV p11l_get_function_list(unsigned idx, CK_FUNCTION_LIST_PTR_PTR pp)
{
	struct p11l_module *m = p11l_module_at(idx);
	REAL_GETTER(m, P11L_GETTER_FUNCTION_LIST, CK_C_GetFunctionList, g);
	CK_RV rv;

	if (!g)
		return CKR_FUNCTION_NOT_SUPPORTED;
	rv = g(pp);
	if (rv == CKR_OK && pp && *pp) {
		const p11l_function_list *w = p11l_wrap_list(m, *pp);
		if (w)
			*pp = (CK_FUNCTION_LIST_PTR)w;
	}
	return rv;
}

CK_RV p11l_get_interface(unsigned idx, CK_UTF8CHAR *name, CK_VERSION *version,
			 CK_INTERFACE **iface, CK_FLAGS flags)
{
	struct p11l_module *m = p11l_module_at(idx);
	REAL_GETTER(m, P11L_GETTER_INTERFACE, CK_C_GetInterface, g);
	CK_RV rv;

	if (!g)
		return CKR_FUNCTION_NOT_SUPPORTED;
	rv = g(name, version, iface, flags);
	if (rv == CKR_OK && iface && *iface)
		*iface = p11l_wrap_interface(m, *iface);
	return rv;
}

CK_RV p11l_get_interface_list(unsigned idx, CK_INTERFACE *list, CK_ULONG *count)
{
	struct p11l_module *m = p11l_module_at(idx);
	REAL_GETTER(m, P11L_GETTER_INTERFACE_LIST, CK_C_GetInterfaceList, g);
	CK_RV rv;

	if (!g)
		return CKR_FUNCTION_NOT_SUPPORTED;
	rv = g(list, count);
	if (rv != CKR_OK || !list || !count)
		return rv;
	/* The caller owns these entries, so only their list pointers change;
	 * interfaces other than "PKCS 11" are left as the module gave them. */
	for (CK_ULONG i = 0; i < *count; i++) {
		if (!p11l_is_pkcs11_interface(&list[i]))
			continue;
		const p11l_function_list *w = p11l_wrap_list(m, list[i].pFunctionList);
		if (w)
			list[i].pFunctionList = (CK_VOID_PTR)w;
	}
	return rv;
}
