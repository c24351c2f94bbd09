#!/bin/sh
# A program that goes on after OPENSSL_cleanup() on OpenSSL 4.0 (issue 21,
# defect 1), hermetic: cleanup-crypto4 is linked with
# libp11l-fakecrypto4.so, whose OPENSSL_cleanup (@OPENSSL_4.0.0) only sets
# a flag, the teardown running from its destructor after every exit
# handler.  The program logs in with the fake module, uses its session,
# calls OPENSSL_cleanup() and uses the session again (a signature needs it
# logged in).  Without the library both uses work and the login is left
# behind; with it, the same output and status, and one C_Logout, from the
# exit handler, before libcrypto 4's teardown.  The same through
# dlsym(RTLD_DEFAULT, "OPENSSL_cleanup"), which gets the library's 3.x
# definition: with no libcrypto 3 in the process it forwards to libcrypto
# 4's and does not release.  sign-after-cleanup.sh is the same with
# pkcs11-provider where libcrypto is 4.x.
. "$P11L_TEST_SRCDIR/tap-lib.sh"

PROG=$P11L_TEST_BUILDDIR/cleanup-crypto4
MOD=$P11L_TEST_BUILDDIR/.libs/fake-module.so
p11l_fixture "$P11L_LIB" "$MOD" "$PROG"
p11l_hermetic

logouts() { grep -c '^fake1 C_Logout .*-> CKR_OK$' "$T/$1"; }

for how in cleanup dlsym; do
	n=$how
	both "$n" P11LOGOUT_MODE=logout + P11LOGOUT_DEBUG=1 -- \
		"$PROG" "$MOD" "$PIN" login use "$how" use
	expect "$n: without the library, the session is used after the call (control)" \
		"$T/$n.without.out" <<EOT
login -> 0x0
use -> 0x0, logged in
$([ "$how" = dlsym ] && echo 'dlsym: called' || echo cleanup)
use -> 0x0, logged in
EOT
	same "$n: with the library, the same output" "$T/$n.without.out" "$T/$n.with.out"
	check "$n: exit status 0 without the library (control)" [ "$(rc "$n.without")" = 0 ]
	check "$n: the same exit status with it ($(rc "$n.with"))" [ "$(rc "$n.with")" = 0 ]
	grep '^fakecrypto' "$T/$n.without.log" >"$T/$n.without.crypto"
	expect "$n: libcrypto 4 sets its flag and tears down at the end (control)" \
		"$T/$n.without.crypto" <<EOT
fakecrypto4 OPENSSL_cleanup: flag set
fakecrypto4 destructor: teardown
EOT
	check "$n: the login is left behind without the library (control: $(logouts "$n.without.log"))" \
		[ "$(logouts "$n.without.log")" = 0 ]
	check "$n: no release at OPENSSL_cleanup with it" \
		sh -c "! grep -q 'OPENSSL_cleanup: releasing' '$T/$n.with.err'"
	check "$n: one C_Logout with it ($(logouts "$n.with.log"))" [ "$(logouts "$n.with.log")" = 1 ]
	check "$n: from the exit handler" \
		grep -q "^libp11logout: exit: .*C_Logout(session [0-9]*) -> CKR_OK" "$T/$n.with.err"
	check "$n: it is made at exit, after the program's last line" \
		grep -q '^fake1 C_Logout .*-> CKR_OK$' "$T/$n.with.exit"
	check "$n: libcrypto 4's teardown comes last, after the release" \
		[ "$(tail -n 1 "$T/$n.with.exit")" = "fakecrypto4 destructor: teardown" ]
done
done_testing
