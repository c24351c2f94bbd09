#!/bin/sh
# Misbehaving modules: whatever the module does, the program exits and
# prints exactly as without the library, and nothing crashes.
. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/robust-lib.sh"

# misbehaves NAME [VAR=VALUE...] -- ARG...: both (exit status 5), then
# the checks every case makes: output_unchanged, and quiet with the
# library.
misbehaves() {
	mb_name=$1
	shift
	both "$mb_name" ROBUST_EXIT=5 "$@"
	output_unchanged "$mb_name"
	quiet "$mb_name.with"
}

n=getter-null
misbehaves $n ODD_MODE=getter-null -- "$ROBUST_DRIVER" login "$ODD"
check "$n: the program sees CKR_OK and no list, as without the library" \
	grep -qx 'C_GetFunctionList: 0x0, list NULL' "$T/$n.with.out"
check "$n: nothing called at exit" test ! -s "$T/$n.with.exit"

n=null-logout
misbehaves $n ODD_MODE=null-logout -- "$ROBUST_DRIVER" login "$ODD"
check "$n: the program sees the same NULL C_Logout entry" \
	grep -qx 'C_Logout entry: NULL' "$T/$n.with.out"
check "$n: nothing called at exit (there is no C_Logout to call)" \
	test ! -s "$T/$n.with.exit"

n=login-any-handle
misbehaves $n ODD_MODE=login-any-handle -- "$ROBUST_DRIVER" login "$ODD" bad-handle
check "$n: C_Login answered CKR_OK to a handle never issued" \
	grep -qx 'C_Login(invalid handle): 0x0' "$T/$n.with.out"
check "$n: nothing called at exit: no slot is known for that login" \
	sh -c "! grep -q 'C_Logout\|C_Open' '$T/$n.with.exit'"

n=sessinfo-fail
misbehaves $n ODD_MODE=sessinfo-fail -- "$ROBUST_DRIVER" login "$ODD"
check "$n: the program sees C_GetSessionInfo fail" \
	grep -qx 'C_GetSessionInfo: 0x30' "$T/$n.with.out"
expect "$n: the slot is known from C_OpenSession: logged out at exit" "$T/$n.with.exit" <<EOF2
odd C_Logout(slot 1) -> CKR_OK
odd C_CloseSession(slot 1) -> CKR_OK
EOF2

# Both: a login on a handle not seen opened, and no C_GetSessionInfo.
n=any-handle-sessinfo-fail
misbehaves $n ODD_MODE=login-any-handle,sessinfo-fail -- "$ROBUST_DRIVER" login "$ODD" bad-handle
check "$n: nothing called at exit" sh -c "! grep -q 'C_Logout\|C_Open' '$T/$n.with.exit'"

n=logout-error
misbehaves $n ODD_MODE=logout-error -- "$ROBUST_DRIVER" login "$ODD"
expect "$n: C_Logout failing for ever is called once at exit, not in a loop" \
	"$T/$n.with.exit" <<EOF2
odd C_Logout(slot 1) -> CKR_GENERAL_ERROR
odd C_CloseSession(slot 1) -> CKR_OK
EOF2

# dlsym_self MODE DESC LINE: a module that looks itself up with dlsym
# (ODD_MODE=MODE) finds itself (its log has LINE), sees the same calls,
# and is logged out at exit.
dlsym_self() {
	misbehaves "$1" ODD_MODE="$1" -- "$ROBUST_DRIVER" login "$ODD"
	check "$1: $2" grep -qx "$3" "$T/$1.with.log"
	same "$1: the module saw the same calls before exit" "$T/$1.without.prog" "$T/$1.with.prog"
	expect "$1: logged out at exit" "$T/$1.with.exit" <<EOF2
odd C_Logout(slot 1) -> CKR_OK
odd C_CloseSession(slot 1) -> CKR_OK
EOF2
}
dlsym_self dlsym-ctor "the constructor found and called its own getter" \
	'odd constructor: dlsym(self) found, getter -> CKR_OK, list set'
dlsym_self dlsym-getter "the getter's own dlsym found itself" \
	'odd getter: dlsym(self) found, C_GetInterface absent'

n=dlsym-both
misbehaves $n ODD_MODE=dlsym-ctor,dlsym-getter -- "$ROBUST_DRIVER" login "$ODD"

done_testing
