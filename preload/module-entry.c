/* Module-wrapper mode: libp11logout-module.so is itself a PKCS#11 module.
 * For programs a preload cannot reach (static binaries, setuid programs on
 * hosts without /etc/ld.so.preload, policies that forbid LD_PRELOAD), the
 * program's module path names this library and P11LOGOUT_MODULE (or
 * "module =" in the configuration file) names the real module.  Every call
 * goes to the real module; the lifecycle calls go through the same record
 * and exit handler as in the preload library. */
#include "config.h"

#include <dlfcn.h>
#include <pthread.h>
#include <string.h>

#include "p11logout.h"

static struct p11l_module *real_module;
static CK_C_GetFunctionList raw_get_function_list;
static CK_C_GetInterface raw_get_interface;
static CK_C_GetInterfaceList raw_get_interface_list;
static int raw_loaded;
static pthread_once_t real_once = PTHREAD_ONCE_INIT;

static void *getter(void *handle, const char *name)
{
	dlerror();
	return dlsym(handle, name);
}

static void load_real_module(void)
{
	const char *path = p11l_config()->module;
	void *handle, *gfl, *gi, *gil, *any;
	struct p11l_module *m;

	if (!path) {
		p11l_warn("no real module: set P11LOGOUT_MODULE or 'module =' in the configuration file");
		return;
	}
	handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!handle) {
		p11l_warn("%s: cannot load the real module: %s", path, dlerror());
		return;
	}
	gfl = getter(handle, "C_GetFunctionList");
	gi = getter(handle, "C_GetInterface");
	gil = getter(handle, "C_GetInterfaceList");
	any = gfl ? gfl : gi ? gi : gil;
	if (!any) {
		p11l_warn("%s: not a PKCS#11 module (no C_GetFunctionList or C_GetInterface)", path);
		dlclose(handle);
		return;
	}
	/* A real module that P11LOGOUT_MODULES leaves out, or one past the
	 * table, is served unwrapped: the calls still reach it. */
	p11l_entry_points_init();
	m = p11l_module_for_getter(any);
	if (!m) {
		raw_get_function_list = (CK_C_GetFunctionList)p11l_fn_of(gfl);
		raw_get_interface = (CK_C_GetInterface)p11l_fn_of(gi);
		raw_get_interface_list = (CK_C_GetInterfaceList)p11l_fn_of(gil);
		__atomic_store_n(&raw_loaded, 1, __ATOMIC_RELEASE);
		return;
	}
	p11l_set_real_getter(m, P11L_GETTER_FUNCTION_LIST, gfl);
	p11l_set_real_getter(m, P11L_GETTER_INTERFACE, gi);
	p11l_set_real_getter(m, P11L_GETTER_INTERFACE_LIST, gil);
	__atomic_store_n(&real_module, m, __ATOMIC_RELEASE);
}

static struct p11l_module *real(void)
{
	pthread_once(&real_once, load_real_module);
	return __atomic_load_n(&real_module, __ATOMIC_ACQUIRE);
}

P11L_EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR pp)
{
	struct p11l_module *m = real();

	if (m)
		return p11l_C_GetFunctionList(m->index, pp);
	if (__atomic_load_n(&raw_loaded, __ATOMIC_ACQUIRE))
		return raw_get_function_list ? raw_get_function_list(pp) :
					       CKR_FUNCTION_NOT_SUPPORTED;
	return CKR_GENERAL_ERROR;
}

P11L_EXPORT CK_RV C_GetInterfaceList(CK_INTERFACE *list,
								CK_ULONG *count)
{
	struct p11l_module *m = real();

	if (m)
		return p11l_C_GetInterfaceList(m->index, list, count);
	if (__atomic_load_n(&raw_loaded, __ATOMIC_ACQUIRE))
		return raw_get_interface_list ? raw_get_interface_list(list, count) :
						CKR_FUNCTION_NOT_SUPPORTED;
	return CKR_GENERAL_ERROR;
}

P11L_EXPORT CK_RV C_GetInterface(CK_UTF8CHAR *name,
							    CK_VERSION *version,
							    CK_INTERFACE **iface,
							    CK_FLAGS flags)
{
	struct p11l_module *m = real();

	if (m)
		return p11l_C_GetInterface(m->index, name, version, iface, flags);
	if (__atomic_load_n(&raw_loaded, __ATOMIC_ACQUIRE))
		return raw_get_interface ? raw_get_interface(name, version, iface, flags) :
					   CKR_FUNCTION_NOT_SUPPORTED;
	return CKR_GENERAL_ERROR;
}
