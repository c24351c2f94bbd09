// A C++ program for exit-cleanup.sh (issue 9.1): a static RAII object,
// built after C_Initialize and before C_Login, logs out and closes its
// session in its destructor, which runs after libp11logout's exit handler.
// Checks every return value; any result other than CKR_OK ends the
// program with status 5.
//
// Usage: cleanup-raii MODULE PIN
#include "config.h"

#include <dlfcn.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

#include "pkcs11-types.h"

namespace {

typedef CK_RV (*slot_list_fn)(CK_BYTE, CK_SLOT_ID *, CK_ULONG *);

CK_FUNCTION_LIST *fl;

template <typename F> F entry(unsigned index)
{
	return reinterpret_cast<F>(fl->fn[index]);
}

void must(const char *what, CK_RV rv)
{
	std::printf("%s -> 0x%lx\n", what, rv);
	if (rv != CKR_OK) {
		std::fflush(stdout);
		_exit(5);
	}
}

class Session {
public:
	explicit Session(CK_SLOT_ID slot) : slot_(slot) {}
	~Session()
	{
		std::printf("destructor\n");
		must("C_Logout", entry<CK_C_Logout>(P11L_C_Logout)(h_));
		must("C_CloseSession", entry<CK_C_CloseSession>(P11L_C_CloseSession)(h_));
		must("C_Finalize", entry<CK_C_Finalize>(P11L_C_Finalize)(nullptr));
		std::fflush(stdout);
	}
	Session(const Session &) = delete;
	Session &operator=(const Session &) = delete;
	// The session is opened here, after the object is built: in modes
	// close and finalize the library's handler is registered at the first
	// session, and it must come after this object's destructor.
	void login(const char *pin)
	{
		must("C_OpenSession", entry<CK_C_OpenSession>(P11L_C_OpenSession)(
			slot_, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &h_));
		must("C_Login", entry<CK_C_Login>(P11L_C_Login)(
			h_, CKU_USER, (CK_UTF8CHAR *)pin, std::strlen(pin)));
	}

private:
	CK_SLOT_ID slot_;
	CK_SESSION_HANDLE h_ = 0;
};

} // namespace

int main(int argc, char **argv)
{
	if (argc != 3) {
		std::fprintf(stderr, "usage: cleanup-raii MODULE PIN\n");
		return 2;
	}
	void *mod = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!mod) {
		std::fprintf(stderr, "cleanup-raii: %s\n", dlerror());
		return 1;
	}
	CK_C_GetFunctionList gfl = reinterpret_cast<CK_C_GetFunctionList>(
		dlsym(mod, "C_GetFunctionList"));
	if (!gfl)
		return 1;
	must("C_GetFunctionList", gfl(&fl));
	must("C_Initialize", entry<CK_C_Initialize>(P11L_C_Initialize)(nullptr));
	CK_SLOT_ID slots[16];
	CK_ULONG n = 16;
	must("C_GetSlotList", entry<slot_list_fn>(P11L_C_GetSlotList)(1, slots, &n));
	if (n == 0)
		must("no slot with a token", CKR_SLOT_ID_INVALID);
	// Built here, after C_Initialize: its destructor is registered now,
	// before the login registers libp11logout's exit handler.
	static Session session(slots[0]);
	session.login(argv[2]);
	return 0;
}
