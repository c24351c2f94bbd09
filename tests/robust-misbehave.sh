#!/bin/sh
# Misbehaving modules: whatever the module does, the program exits and
# prints exactly as without the library, and nothing crashes.
. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/robust-lib.sh"

# both NAME [VAR=VALUE...] -- ARG...: NAME.without and NAME.with.
both() {
	name=$1
	shift
	run "$name.without" "" ROBUST_EXIT=5 "$@"
	run "$name.with" lib ROBUST_EXIT=5 "$@"
	output_unchanged "$name"
	quiet "$name.with"
}

n=getter-null
both $n ODD_MODE=getter-null -- "$ROBUST_DRIVER" login "$ODD"
check "$n: the program sees CKR_OK and no list, as without the library" \
	grep -qx 'C_GetFunctionList: 0x0, list NULL' "$T/$n.with.out"
check "$n: nothing called at exit" test ! -s "$T/$n.with.exit"

n=null-logout
both $n ODD_MODE=null-logout -- "$ROBUST_DRIVER" login "$ODD"
check "$n: the program sees the same NULL C_Logout entry" \
	grep -qx 'C_Logout entry: NULL' "$T/$n.with.out"
check "$n: nothing called at exit (there is no C_Logout to call)" \
	test ! -s "$T/$n.with.exit"

n=login-any-handle
both $n ODD_MODE=login-any-handle -- "$ROBUST_DRIVER" login "$ODD" bad-handle
check "$n: C_Login answered CKR_OK to a handle never issued" \
	grep -qx 'C_Login(invalid handle): 0x0' "$T/$n.with.out"
check "$n: nothing called at exit: no slot is known for that login" \
	sh -c "! grep -q 'C_Logout\|C_Open' '$T/$n.with.exit'"

n=sessinfo-fail
both $n ODD_MODE=sessinfo-fail -- "$ROBUST_DRIVER" login "$ODD"
check "$n: the program sees C_GetSessionInfo fail" \
	grep -qx 'C_GetSessionInfo: 0x30' "$T/$n.with.out"
expect "$n: the slot is known from C_OpenSession: logged out at exit" "$T/$n.with.exit" <<EOF2
odd C_Logout(slot 1) -> CKR_OK
odd C_CloseSession(slot 1) -> CKR_OK
EOF2

# Both: a login on a handle not seen opened, and no C_GetSessionInfo.
n=any-handle-sessinfo-fail
both $n ODD_MODE=login-any-handle,sessinfo-fail -- "$ROBUST_DRIVER" login "$ODD" bad-handle
check "$n: nothing called at exit" sh -c "! grep -q 'C_Logout\|C_Open' '$T/$n.with.exit'"

n=logout-error
both $n ODD_MODE=logout-error -- "$ROBUST_DRIVER" login "$ODD"
expect "$n: C_Logout failing for ever is called once at exit, not in a loop" \
	"$T/$n.with.exit" <<EOF2
odd C_Logout(slot 1) -> CKR_GENERAL_ERROR
odd C_CloseSession(slot 1) -> CKR_OK
EOF2

n=dlsym-ctor
both $n ODD_MODE=dlsym-ctor -- "$ROBUST_DRIVER" login "$ODD"
check "$n: the constructor found and called its own getter" \
	grep -qx 'odd constructor: dlsym(self) found, getter -> CKR_OK, list set' "$T/$n.with.log"
same "$n: the module saw the same calls before exit" "$T/$n.without.prog" "$T/$n.with.prog"
expect "$n: logged out at exit" "$T/$n.with.exit" <<EOF2
odd C_Logout(slot 1) -> CKR_OK
odd C_CloseSession(slot 1) -> CKR_OK
EOF2

n=dlsym-getter
both $n ODD_MODE=dlsym-getter -- "$ROBUST_DRIVER" login "$ODD"
check "$n: the getter's own dlsym found itself" \
	grep -qx 'odd getter: dlsym(self) found, C_GetInterface absent' "$T/$n.with.log"
same "$n: the module saw the same calls before exit" "$T/$n.without.prog" "$T/$n.with.prog"
expect "$n: logged out at exit" "$T/$n.with.exit" <<EOF2
odd C_Logout(slot 1) -> CKR_OK
odd C_CloseSession(slot 1) -> CKR_OK
EOF2

n=dlsym-both
both $n ODD_MODE=dlsym-ctor,dlsym-getter -- "$ROBUST_DRIVER" login "$ODD"

done_testing
