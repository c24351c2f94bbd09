#!/bin/sh
# fork: a parent logs in and forks; the child exits through exit().  The
# child's exit handler must leave the parent's login alone (the token's
# login state is shared, as through an inherited connection), so the
# parent can still sign, and is logged out once, at its own exit.
. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/robust-lib.sh"

for v in plain reinit logout; do
	both "fork-$v" -- "$ROBUST_DRIVER" fork "$ODD" "$v"
done

# The control: a C_Logout in the child is what breaks the parent.  If the
# exit handler of the child logged out, the parent would see this.
check "control: a child's C_Logout makes the parent's C_Sign fail (CKR_USER_NOT_LOGGED_IN)" \
	grep -qx 'parent C_Sign after the child exited: 0x101' "$T/fork-logout.without.out"

output_unchanged fork-plain
check "plain: the parent signs after the child exited" \
	grep -qx 'parent C_Sign after the child exited: 0x0' "$T/fork-plain.with.out"
# The program's calls, the same in both runs.
PLAIN='odd C_Initialize -> CKR_OK
odd C_OpenSession(slot 1) -> CKR_OK
odd C_Login(slot 1) -> CKR_OK
driver: fork
driver: child exited with 0
odd C_Sign(slot 1) -> CKR_OK
driver exit'
expect "plain: exact module calls without the library (nothing at exit)" \
	"$T/fork-plain.without.log" <<EOF2
$PLAIN
EOF2
expect "plain: exact module calls with the library: no C_Logout from the child, one at the parent's exit" \
	"$T/fork-plain.with.log" <<EOF2
$PLAIN
odd C_Logout(slot 1) -> CKR_OK
odd C_CloseSession(slot 1) -> CKR_OK
EOF2
quiet fork-plain.with

# A child that initialises the module itself and logs in to another slot:
# its own login is released at its exit, the parent's is not touched.
output_unchanged fork-reinit
check "reinit: the parent signs after the child exited" \
	grep -qx 'parent C_Sign after the child exited: 0x0' "$T/fork-reinit.with.out"
expect "reinit: exact module calls with the library: the child logs out its own slot 2 only" \
	"$T/fork-reinit.with.log" <<EOF2
odd C_Initialize -> CKR_OK
odd C_OpenSession(slot 1) -> CKR_OK
odd C_Login(slot 1) -> CKR_OK
driver: fork
odd C_Initialize -> CKR_OK
odd C_OpenSession(slot 2) -> CKR_OK
odd C_Login(slot 2) -> CKR_OK
odd C_Logout(slot 2) -> CKR_OK
odd C_CloseSession(slot 2) -> CKR_OK
driver: child exited with 0
odd C_Sign(slot 1) -> CKR_OK
driver exit
odd C_Logout(slot 1) -> CKR_OK
odd C_CloseSession(slot 1) -> CKR_OK
EOF2
quiet fork-reinit.with

done_testing
