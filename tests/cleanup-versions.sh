#!/bin/sh
# OPENSSL_cleanup() with libcrypto 3 and 4 in one process (issue 21,
# defect 2): a 3.x program (cleanup-two-cryptos, linked with
# libp11l-fakecrypto3.so) uses a library linked with libcrypto 4
# (libp11l-fakecrypto-user4.so, with libp11l-fakecrypto4.so), which calls
# OPENSSL_cleanup@OPENSSL_4.0.0.  Without the library that call reaches
# libcrypto 4 only (a flag; its teardown at exit, from its destructor);
# with it, the same, and the login stays until the exit handler.  The
# program's own OPENSSL_cleanup@OPENSSL_3.0.0 tears libcrypto 3 down at
# once, and with the library the login is released first.  A lookup
# without a version, dlsym(RTLD_DEFAULT, ...), gets the 3.x definition:
# it tears libcrypto 3 down as without the library, released first.
# The fake libcryptos log their teardown into the fake module's log, so
# the order of the module's calls and the teardowns shows.
. "$P11L_TEST_SRCDIR/tap-lib.sh"

PROG=$P11L_TEST_BUILDDIR/cleanup-two-cryptos
MOD=$P11L_TEST_BUILDDIR/.libs/fake-module.so
p11l_fixture "$P11L_LIB" "$MOD" "$PROG"
p11l_hermetic

# steps NAME STEP...: both runs (P11LOGOUT_MODE=logout, the debug trace).
steps() {
	n=$1
	shift
	both "$n" P11LOGOUT_MODE=logout + P11LOGOUT_DEBUG=1 -- "$PROG" "$MOD" "$PIN" "$@"
	same "$n: the same output with the library" "$T/$n.without.out" "$T/$n.with.out"
	check "$n: the same exit status with the library ($(rc "$n.with"), control $(rc "$n.without"))" \
		[ "$(rc "$n.with")" = "$(rc "$n.without")" ]
}
# teardowns TAG: the fake libcryptos' lines of the run, in order, in
# TAG.crypto.
teardowns() { grep '^fakecrypto' "$T/$1.log" >"$T/$1.crypto"; }
# logouts TAG: the C_Logout calls that reached the module.
logouts() { grep -c '^fake1 C_Logout .*-> CKR_OK$' "$T/$1.log"; }
# before TAG PATTERN1 PATTERN2: a line of TAG.log matches each, and the
# first match of PATTERN1 comes before that of PATTERN2.
before() {
	b1=$(grep -n "$2" "$T/$1.log" | sed -n '1s/:.*//p')
	b2=$(grep -n "$3" "$T/$1.log" | sed -n '1s/:.*//p')
	[ -n "$b1" ] && [ -n "$b2" ] && [ "$b1" -lt "$b2" ]
}

# The 4.0 library's call: libcrypto 4 sets its flag and tears down from its
# destructor; libcrypto 3 is left alone; the program goes on using its
# session, and the login is released by the exit handler.
n=lib4
steps $n login cleanup4 use
teardowns $n.without
teardowns $n.with
expect "$n: without the library, only libcrypto 4 reacts (control)" "$T/$n.without.crypto" <<EOT
fakecrypto4 OPENSSL_cleanup: flag set
fakecrypto4 destructor: teardown
EOT
same "$n: with the library, the same: libcrypto 3 is not torn down" \
	"$T/$n.without.crypto" "$T/$n.with.crypto"
check "$n: the session is still logged in after the call, with the library" \
	grep -qx 'use -> 0x0, logged in' "$T/$n.with.out"
check "$n: without the library the login is left behind (control: $(logouts $n.without) C_Logout)" \
	[ "$(logouts $n.without)" = 0 ]
check "$n: with it, one C_Logout" [ "$(logouts $n.with)" = 1 ]
check "$n: that C_Logout is made at exit" grep -q '^fake1 C_Logout .*-> CKR_OK$' "$T/$n.with.exit"
check "$n: the library did not release at OPENSSL_cleanup" \
	sh -c "! grep -q 'OPENSSL_cleanup: releasing' '$T/$n.with.err'"
check "$n: the release comes before libcrypto 4's teardown" \
	before $n.with '^fake1 C_Logout' '^fakecrypto4 destructor'

# The program's own call, bound to OPENSSL_3.0.0: libcrypto 3 tears down
# at once; with the library, the login is released just before.
n=prog3
steps $n login cleanup
teardowns $n.without
teardowns $n.with
expect "$n: without the library, libcrypto 3 tears down (control)" "$T/$n.without.crypto" <<EOT
fakecrypto3 OPENSSL_cleanup: teardown
EOT
same "$n: with it, the same teardown, of libcrypto 3 only" "$T/$n.without.crypto" "$T/$n.with.crypto"
check "$n: the library released at OPENSSL_cleanup" \
	grep -q "^libp11logout: OPENSSL_cleanup: .*C_Logout(session [0-9]*) -> CKR_OK" "$T/$n.with.err"
check "$n: one C_Logout with the library (control: $(logouts $n.without))" [ "$(logouts $n.with)" = 1 ]
check "$n: the release comes before libcrypto 3's teardown" \
	before $n.with '^fake1 C_Logout' '^fakecrypto3 '

# Both, the library's first: libcrypto 3 only at the program's call.
n=both
steps $n login cleanup4 use cleanup
teardowns $n.without
teardowns $n.with
expect "$n: without the library, each libcrypto its own (control)" "$T/$n.without.crypto" <<EOT
fakecrypto4 OPENSSL_cleanup: flag set
fakecrypto3 OPENSSL_cleanup: teardown
fakecrypto4 destructor: teardown
EOT
same "$n: with it, the same" "$T/$n.without.crypto" "$T/$n.with.crypto"
check "$n: one C_Logout with the library (control: $(logouts $n.without))" [ "$(logouts $n.with)" = 1 ]
check "$n: the release comes before libcrypto 3's teardown" \
	before $n.with '^fake1 C_Logout' '^fakecrypto3 '

# A lookup without a version finds the default, libcrypto 3's (the
# program's first NEEDED libcrypto); with the library, the 3.x definition.
n=dlsym
steps $n login dlsym
teardowns $n.without
teardowns $n.with
expect "$n: without the library, dlsym(RTLD_DEFAULT) finds libcrypto 3's (control)" \
	"$T/$n.without.crypto" <<EOT
fakecrypto3 OPENSSL_cleanup: teardown
EOT
same "$n: with it, the same teardown" "$T/$n.without.crypto" "$T/$n.with.crypto"
check "$n: one C_Logout with the library (control: $(logouts $n.without))" [ "$(logouts $n.with)" = 1 ]
check "$n: the release comes before libcrypto 3's teardown" \
	before $n.with '^fake1 C_Logout' '^fakecrypto3 '
done_testing
