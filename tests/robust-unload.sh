#!/bin/sh
# Unloads: a module finalised, dlclose()d and loaded again is logged out
# at exit; a module dlclose()d without C_Finalize is not called at exit
# (its code is gone), and the exit status is the program's.
. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/robust-lib.sh"

# --- finalise, unload, load again, log in -----------------------------
n=reload
both "$n" -- "$ROBUST_DRIVER" reload "$ODD"
output_unchanged "$n"
check "$n: the module really was unmapped by dlclose" \
	grep -qx 'mapped after dlclose: no' "$T/$n.with.out"
expect "$n: exact module calls with the library: the first login is logged out before the program's C_Finalize, the second released at exit, once" \
	"$T/$n.with.log" <<EOF2
odd C_Initialize -> CKR_OK
odd C_OpenSession(slot 1) -> CKR_OK
odd C_Login(slot 1) -> CKR_OK
odd C_Logout(slot 1) -> CKR_OK
odd C_Finalize -> CKR_OK
odd C_Initialize -> CKR_OK
odd C_OpenSession(slot 1) -> CKR_OK
odd C_Login(slot 1) -> CKR_OK
odd C_Sign(slot 1) -> CKR_OK
driver exit
odd C_Logout(slot 1) -> CKR_OK
odd C_CloseSession(slot 1) -> CKR_OK
EOF2
# The first C_Finalize came logged in, its session open: the C_Logout
# before it is the library's (the program calls none).
check "$n: without the library the first C_Finalize comes logged in, no C_Logout before it" \
	sh -c "sed '/C_Finalize/q' '$T/$n.without.log' | tail -n 2 | head -n 1 | grep -qx 'odd C_Login(slot 1) -> CKR_OK' &&
		! grep -q C_Logout '$T/$n.without.log'"
check "$n: without the library nothing is called at exit" test ! -s "$T/$n.without.exit"
quiet "$n.with"

# --- unload without C_Finalize -----------------------------------------
# The control: calling the module's old C_Logout after the dlclose is a
# crash, which is what the exit handler must not do.
n=stale-call
run "$n" "" -- "$ROBUST_DRIVER" stale-call "$ODD"
# (Under a sanitizer the crash is reported with its exit code instead.)
check "control: calling into the unloaded module crashes (status $(rc $n))" \
	sh -c "test $(rc $n) != 0 && ! grep -q 'stale C_Logout returned' '$T/$n.out'"

n=unload
both "$n" ROBUST_EXIT=7 -- "$ROBUST_DRIVER" unload "$ODD"
output_unchanged "$n"
check "$n: the program's own exit status (7)" test "$(rc "$n.with")" = 7
check "$n: the module really was unmapped by dlclose" \
	grep -qx 'mapped after dlclose: no' "$T/$n.with.out"
check "$n: nothing is called at exit" test ! -s "$T/$n.with.exit"
quiet "$n.with"
run "$n.debug" lib ROBUST_EXIT=7 P11LOGOUT_DEBUG=1 -- "$ROBUST_DRIVER" unload "$ODD"
check "$n: the exit handler ran, found the login and saw the module gone" \
	grep -q 'no longer loaded' "$T/$n.debug.err"
check "$n: debug run exits with 7 too" test "$(rc "$n.debug")" = 7

# Another module loaded after the unload (maybe at the same address).
n=unload-other
both "$n" ROBUST_EXIT=7 -- "$ROBUST_DRIVER" unload "$ODD" "$ODD2"
output_unchanged "$n"
check "$n: the program's own exit status (7)" test "$(rc "$n.with")" = 7
check "$n: nothing is called at exit, in either module" test ! -s "$T/$n.with.exit"
quiet "$n.with"

done_testing
