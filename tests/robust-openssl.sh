#!/bin/sh
# A program that calls OPENSSL_cleanup() itself, logged in to a module
# whose C_Logout needs libcrypto (an HMAC, as a secure channel does).
# OpenSSL 3 tears down in OPENSSL_cleanup(): the library interposes it and
# logs out first.  OpenSSL 4's OPENSSL_cleanup() only sets a flag and
# libcrypto tears down from its destructor, after every exit handler: the
# point too late for a logout is then that destructor (modelled with
# libfini-hook), and the library's exit handler comes before it.
. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/robust-lib.sh"

OSSL=$P11L_TEST_BUILDDIR/ossl-driver
[ -x "$OSSL" ] && [ -f "$ODDC" ] || skip_all "built without libcrypto"

# cleanup_case POINT CHECK: the program calls OPENSSL_cleanup() logged in;
# without the library no C_Logout at all, with it one that succeeds before
# POINT (CHECK: expect for the exact order, expect_lines for any).
cleanup_case() {
	n=cleanup
	both "$n" -- "$OSSL" "$ODDC" cleanup
	output_unchanged "$n"
	check "$n: without the library there is no C_Logout at all" \
		sh -c "! grep -q C_Logout '$T/$n.without.log'"
	"$2" "$n: with the library C_Logout succeeds, before $1" \
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
}

# OpenSSL 4: what it really does, then the library against it.
ossl4() {
	run probe "" -- "$OSSL" "$ODDC" probe
	expect "OpenSSL 4: an HMAC still works after OPENSSL_cleanup() (it only sets a flag)" \
		"$T/probe.out" <<EOF2
HMAC before cleanup: ok
HMAC after cleanup: ok
EOF2
	run probe-fini "" -- "$OSSL" "$ODDC" probe-fini
	expect "OpenSSL 4 premise: no HMAC from a destructor after libcrypto's (its teardown)" \
		"$T/probe-fini.out" <<EOF2
HMAC before cleanup: ok
HMAC after libcrypto's destructor: fails
EOF2

	# The exit handler comes before the teardown: one C_Logout, CKR_OK,
	# whether the library logs out at OPENSSL_cleanup() or at exit (so
	# the lines in any order).
	cleanup_case "libcrypto's teardown" expect_lines

	# A program's own logout right after OPENSSL_cleanup() still works.
	n=late-logout
	both "$n" -- "$OSSL" "$ODDC" late-logout
	output_unchanged "$n"
	check "$n: without the library the program's logout after OPENSSL_cleanup() works (CKR_OK)" \
		grep -qx 'C_Logout after cleanup: 0x0' "$T/$n.without.out"
	check "$n: with the library exactly one C_Logout reaches the module, CKR_OK" \
		sh -c "[ \"\$(grep -c C_Logout '$T/$n.with.log')\" = 1 ] && grep -qx 'oddcrypto C_Logout(slot 1) -> CKR_OK' '$T/$n.with.log'"

	# The failure mode on 4.0: a logout from after libcrypto's destructor.
	n=fini-logout
	both "$n" -- "$OSSL" "$ODDC" fini-logout
	check "$n: without the library the logout after libcrypto's teardown fails (CKR_DEVICE_ERROR)" \
		grep -qx "C_Logout after libcrypto's destructor: 0x30" "$T/$n.without.out"
	check "$n: with the library the logout was done before: the late one is answered CKR_OK" \
		grep -qx "C_Logout after libcrypto's destructor: 0x0" "$T/$n.with.out"
	check "$n: with the library exactly one C_Logout reaches the module, CKR_OK" \
		sh -c "[ \"\$(grep -c C_Logout '$T/$n.with.log')\" = 1 ] && grep -qx 'oddcrypto C_Logout(slot 1) -> CKR_OK' '$T/$n.with.log'"
	check "$n: exit status 0 with and without the library" \
		test "$(rc "$n.without")" = 0 -a "$(rc "$n.with")" = 0

	# Without the interposer the exit handler is still in time.
	n=bypass
	run "$n.with" lib -- "$OSSL" "$ODDC" bypass
	expect "$n: without the interposer the exit-time logout works on OpenSSL 4 (CKR_OK)" \
		"$T/$n.with.exit" <<EOF2
oddcrypto C_Logout(slot 1) -> CKR_OK
oddcrypto C_CloseSession(slot 1) -> CKR_OK
EOF2
	check "$n: exit status 0" test "$(rc "$n.with")" = 0
}

run version "" -- "$OSSL" "$ODDC" version
major=$(cat "$T/version.out")
diag "ossl-driver runs with OpenSSL $major ($(rc version))"
if [ "$major" -ge 4 ] 2>/dev/null; then
	ossl4
	done_testing
fi

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

cleanup_case "OpenSSL is torn down" expect

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
