/* The module's getters, seen through the library: each calls the module's
 * own getter and swaps the list it returns for the wrapped copy.  A failing
 * getter, or one that returns no list, is passed on unchanged. */
#include "config.h"

#include <string.h>

#include "p11logout.h"

static CK_C_GetFunctionList real_get_function_list(struct p11l_module *m)
{
	CK_C_GetFunctionList g = __atomic_load_n(&m->real_get_function_list,
						 __ATOMIC_ACQUIRE);
	if (!g) {
		p11l_fn f = p11l_real_fn(m, P11L_C_GetFunctionList);
		memcpy(&g, &f, sizeof g);
	}
	return g;
}

static CK_C_GetInterface real_get_interface(struct p11l_module *m)
{
	CK_C_GetInterface g = __atomic_load_n(&m->real_get_interface,
					      __ATOMIC_ACQUIRE);
	if (!g) {
		p11l_fn f = p11l_real_fn(m, P11L_C_GetInterface);
		memcpy(&g, &f, sizeof g);
	}
	return g;
}

static CK_C_GetInterfaceList real_get_interface_list(struct p11l_module *m)
{
	CK_C_GetInterfaceList g = __atomic_load_n(&m->real_get_interface_list,
						  __ATOMIC_ACQUIRE);
	if (!g) {
		p11l_fn f = p11l_real_fn(m, P11L_C_GetInterfaceList);
		memcpy(&g, &f, sizeof g);
	}
	return g;
}

CK_RV p11l_get_function_list(unsigned idx, CK_FUNCTION_LIST_PTR_PTR pp)
{
	struct p11l_module *m = p11l_module_at(idx);
	CK_C_GetFunctionList g = real_get_function_list(m);
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
	CK_C_GetInterface g = real_get_interface(m);
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
	CK_C_GetInterfaceList g = real_get_interface_list(m);
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
