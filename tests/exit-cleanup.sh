#!/bin/sh
# Issue 9.1: a program's own clean-up, run after libp11logout has released
# its login, sees what it would see without the library, and the module
# gets exactly one C_Logout (and, in mode finalize, one C_Finalize).
#
# cleanup-prog registers its clean-up with atexit() before it logs in;
# cleanup-raii (C++) logs out in the destructor of a static object built
# before the login.  Each checks every answer and exits 5 on any failure.
# Each runs without the library (the control) and with it, against the
# fake module in each mode and against SoftHSM2 through pkcs11-spy: the
# exit status and every answer must be the same, and the module's trace
# must show one C_Logout.
. "$P11L_TEST_SRCDIR/tap-lib.sh"

PROG=$P11L_TEST_BUILDDIR/cleanup-prog
RAII=$P11L_TEST_BUILDDIR/cleanup-raii
MOD=$P11L_TEST_BUILDDIR/.libs/fake-module.so
p11l_fixture "$P11L_LIB" "$MOD" "$PROG"
p11l_hermetic
unset PKCS11SPY PKCS11SPY_OUTPUT

PROGS="$PROG"
if [ -x "$RAII" ]; then
	PROGS="$PROGS $RAII"
else
	diag "no C++ compiler at configure time: cleanup-raii not built"
fi

# run_mode NAME PRELOAD MODE PROGRAM MODULE PIN [SCENARIO]: run (tap-lib.sh)
# with P11LOGOUT_MODE=MODE and the debug trace; the programs pass their own
# PIN, so the fake module checks none.
run_mode() {
	name=$1 pre=$2 mode=$3
	shift 3
	run "$name" "$pre" -u FAKE_PIN P11LOGOUT_MODE="$mode" P11LOGOUT_DEBUG=1 -- "$@"
}

# compare TAG BARE LIB: the same status (0) and the same answers.
compare() {
	tag=$1 bare=$2 lib=$3
	check "$tag: the program succeeds without the library (control)" \
		[ "$(cat "$T/$bare.rc")" = 0 ]
	if [ "$(cat "$T/$lib.rc")" = "$(cat "$T/$bare.rc")" ]; then
		ok "$tag: the same exit status with the library"
	else
		not_ok "$tag: the same exit status with the library ($(cat "$T/$lib.rc"))"
		show "$T/$lib.out" "$T/$lib.err"
	fi
	if cmp -s "$T/$bare.out" "$T/$lib.out"; then
		ok "$tag: the same answers with the library"
	else
		not_ok "$tag: the same answers with the library"
		diff "$T/$bare.out" "$T/$lib.out" | show
	fi
}

# count NAME CALL: the calls CALL that the fake module answered CKR_OK.
count() { grep -c "^fake1 $2 .*-> CKR_OK\$\|^fake1 $2 -> CKR_OK\$" "$T/$1.log"; }

for prog in $PROGS; do
	p=$(basename "$prog")
	for mode in logout close finalize; do
		run_mode "$p-$mode-bare" "$(p11l_preload_none)" "$mode" "$prog" "$MOD" 1234
		run_mode "$p-$mode-lib" "$(p11l_preload)" "$mode" "$prog" "$MOD" 1234
		compare "$p, fake module, mode $mode" "$p-$mode-bare" "$p-$mode-lib"
		check "$p, fake module, mode $mode: one C_Logout reaches the module (control: $(count "$p-$mode-bare" C_Logout))" \
			[ "$(count "$p-$mode-lib" C_Logout)" = 1 ]
		check "$p, fake module, mode $mode: one C_Finalize reaches the module" \
			[ "$(count "$p-$mode-lib" C_Finalize)" = 1 ]
		check "$p, fake module, mode $mode: the library released the login at exit" \
			grep -q "exit: .*C_Logout(session [0-9]*) -> CKR_OK" "$T/$p-$mode-lib.err"
		check "$p, fake module, mode $mode: the module's calls are the same as without the library" \
			cmp -s "$T/$p-$mode-bare.log" "$T/$p-$mode-lib.log"
	done
done

# OPENSSL_cleanup() in the middle: the library releases the login there;
# the program's logout and close that follow, and its second login, behave
# as without the library.
run_mode mid-bare "$(p11l_preload_none)" logout "$PROG" "$MOD" 1234 midway
run_mode mid-lib "$(p11l_preload)" logout "$PROG" "$MOD" 1234 midway
compare "OPENSSL_cleanup() midway" mid-bare mid-lib
check "OPENSSL_cleanup() midway: the library released the login there" \
	grep -q "OPENSSL_cleanup: releasing" "$T/mid-lib.err"
check "OPENSSL_cleanup() midway: its log lines say so, not 'exit'" \
	grep -q "^libp11logout: OPENSSL_cleanup: .*C_Logout(session [0-9]*) -> CKR_OK" "$T/mid-lib.err"
check "OPENSSL_cleanup() midway: two C_Logout reach the module, as without the library" \
	[ "$(count mid-lib C_Logout)" = 2 ]
check "OPENSSL_cleanup() midway: the module's calls are the same as without the library" \
	cmp -s "$T/mid-bare.log" "$T/mid-lib.log"

# A module that hands a closed session's handle out again: the session
# the program opens after the release gets the released handle, and is
# real: the program's close of it reaches the module.
for w in bare lib; do
	pre=$(p11l_preload_none)
	[ "$w" = lib ] && pre=$(p11l_preload)
	run "reuse-$w" "$pre" -u FAKE_PIN P11LOGOUT_MODE=logout P11LOGOUT_DEBUG=1 \
		FAKE_REUSE_HANDLES=1 -- "$PROG" "$MOD" 1234 reuse
done
compare "handle reused after the release" reuse-bare reuse-lib
check "handle reused after the release: the new session got the released handle" \
	[ "$(grep -c '^fake1 C_OpenSession .*session=100 -> CKR_OK$' "$T/reuse-lib.log")" -ge 2 ]
check "handle reused after the release: the program's close of it reaches the module" \
	[ "$(awk '/^fake1 C_OpenSession .*session=100 /{n++; if (n == 2) {getline; print}}' "$T/reuse-lib.log")" = \
		"fake1 C_CloseSession session=100 slot=1 -> CKR_OK" ]

# A login made in the program's clean-up, after the library's exit handler
# ran, is released too: glibc runs the handler registered during exit.
run_mode re-bare "$(p11l_preload_none)" logout "$PROG" "$MOD" 1234 relogin
run_mode re-lib "$(p11l_preload)" logout "$PROG" "$MOD" 1234 relogin
compare "login again in the clean-up" re-bare re-lib
check "login again in the clean-up: left logged in without the library (control)" \
	[ "$(count re-bare C_Logout)" = 1 ]
check "login again in the clean-up: released too with the library" \
	[ "$(count re-lib C_Logout)" = 2 ]
check "login again in the clean-up: the last call logs that login out" \
	sh -c "tail -n 2 '$T/re-lib.log' | head -1 | grep -q '^fake1 C_Logout .*-> CKR_OK\$'"

# SoftHSM2 through pkcs11-spy: the spy's trace is what reaches the token.
. "$P11L_TEST_SRCDIR/spy-trace.sh"
. "$P11L_TEST_SRCDIR/softhsm-setup.sh"
why=
if why=$(p11l_softhsm_missing); then :; elif [ ! -r "$P11L_SPY" ]; then
	why="pkcs11-spy (OpenSC) not found at $P11L_SPY"
elif ! p11l_softhsm_setup >"$T/softhsm-setup.log" 2>&1; then
	bail_out "cannot create the SoftHSM2 token"
else
	why=
fi
for prog in $PROGS; do
	p=$(basename "$prog")
	for mode in logout finalize; do
		tag="$p, SoftHSM2 through pkcs11-spy, mode $mode"
		if [ -n "$why" ]; then
			for i in 1 2 3 4 5; do
				P11L_TAP_N=$((P11L_TAP_N + 1))
				echo "ok $P11L_TAP_N # SKIP $tag: $why"
			done
			continue
		fi
		for w in bare lib; do
			pre=$(p11l_preload_none)
			[ "$w" = lib ] && pre=$(p11l_preload)
			PKCS11SPY=$P11L_SOFTHSM PKCS11SPY_OUTPUT=$T/$p-spy-$mode-$w.trace \
				run_mode "$p-spy-$mode-$w" "$pre" "$mode" "$prog" "$P11L_SPY" "$P11L_PIN"
			p11l_spy_calls "$T/$p-spy-$mode-$w.trace" >"$T/$p-spy-$mode-$w.calls"
		done
		compare "$tag" "$p-spy-$mode-bare" "$p-spy-$mode-lib"
		check "$tag: one C_Logout reaches the token" \
			[ "$(grep -c '^C_Logout CKR_OK$' "$T/$p-spy-$mode-lib.calls")" = 1 ]
		check "$tag: one C_Finalize reaches the token" \
			[ "$(grep -c '^C_Finalize CKR_OK$' "$T/$p-spy-$mode-lib.calls")" = 1 ]
	done
done
done_testing
