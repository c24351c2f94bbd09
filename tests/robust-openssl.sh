#!/bin/sh
# A program that calls OPENSSL_cleanup() itself, logged in to a module
# whose C_Logout needs libcrypto (an HMAC, as a secure channel does).  The
# library interposes OPENSSL_cleanup and logs out first.
. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/robust-lib.sh"

OSSL=$P11L_TEST_BUILDDIR/ossl-driver
[ -x "$OSSL" ] && [ -f "$ODDC" ] || skip_all "built without libcrypto"

# The premise: after OPENSSL_cleanup() no HMAC can be computed.
run probe "" -- "$OSSL" "$ODDC" probe
expect "premise: an HMAC works before OPENSSL_cleanup() and fails after it" \
	"$T/probe.out" <<EOF2
HMAC before cleanup: ok
HMAC after cleanup: fails
EOF2
run probe-raw "" -- "$OSSL" "$ODDC" probe-raw
check "premise: EVP_Q_mac itself, called after OPENSSL_cleanup(), does not work (status $(rc probe-raw))" \
	sh -c "! grep -qx 'HMAC after cleanup: ok' '$T/probe-raw.out'"

n=cleanup
both "$n" -- "$OSSL" "$ODDC" cleanup
output_unchanged "$n"
check "$n: without the library there is no C_Logout at all" \
	sh -c "! grep -q C_Logout '$T/$n.without.log'"
expect "$n: with the library C_Logout succeeds, before OpenSSL is torn down" \
	"$T/$n.with.log" <<EOF2
oddcrypto C_Initialize -> CKR_OK
oddcrypto C_OpenSession(slot 1) -> CKR_OK
oddcrypto C_Login(slot 1) -> CKR_OK
oddcrypto C_Logout(slot 1) -> CKR_OK
oddcrypto C_CloseSession(slot 1) -> CKR_OK
driver: cleanup done
driver exit
EOF2
quiet "$n.with"

# The failure mode: a logout after OPENSSL_cleanup() fails.
n=late-logout
both "$n" -- "$OSSL" "$ODDC" late-logout
check "$n: without the library the program's own logout after OPENSSL_cleanup() fails (CKR_DEVICE_ERROR)" \
	grep -qx 'C_Logout after cleanup: 0x30' "$T/$n.without.out"
# (The library logged out before the teardown and closed the slot's
# sessions; the program's own logout of that slot is answered CKR_OK, as
# the library's was, without reaching the module: issue 9.1.)
check "$n: with the library the logout was done before: the late one is answered CKR_OK" \
	grep -qx 'C_Logout after cleanup: 0x0' "$T/$n.with.out"
check "$n: with the library exactly one C_Logout reaches the module" \
	[ "$(grep -c 'C_Logout' "$T/$n.with.log")" = 1 ]
check "$n: with the library the module logged out successfully" \
	grep -qx 'oddcrypto C_Logout(slot 1) -> CKR_OK' "$T/$n.with.log"

# Without the interposer (libcrypto's own OPENSSL_cleanup called through
# its handle), the exit handler comes too late.
n=bypass
run "$n.with" lib -- "$OSSL" "$ODDC" bypass
expect "$n: without the interposer the exit-time logout fails (CKR_DEVICE_ERROR)" \
	"$T/$n.with.exit" <<EOF2
oddcrypto C_Logout(slot 1) -> CKR_DEVICE_ERROR
oddcrypto C_CloseSession(slot 1) -> CKR_OK
EOF2
check "$n: exit status 0" test "$(rc "$n.with")" = 0

done_testing
