#!/bin/sh
# More real consumers, each from Debian's packages, each traced by
# pkcs11-spy: GnuTLS's p11tool (through p11-kit's module loading) listing
# private keys with a login, and a PyKCS11 script that logs in and exits
# without logging out.  Each ends with its own C_Finalize.  p11tool closes
# every session before it, which ends its login: with the library its trace
# is the trace without it, call for call.  The PyKCS11 script finalizes with
# its session open and logged in, which a module such as yubihsm_pkcs11
# does not end on the device: with the library exactly one C_Logout,
# CKR_OK, comes right before its C_Finalize, and nothing else changes.

. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/softhsm-setup.sh"
. "$P11L_TEST_SRCDIR/spy-trace.sh"

p11l_spy_fixture

# run TAG MODE COMMAND...: the command on the spy, without the library
# (none) or with it (lib); leaves $TAG.calls, $TAG.out, $TAG.err and rc.
run() {
	tag=$1 mode=$2
	shift 2
	case $mode in
	none) set -- env -u LD_PRELOAD -u P11LOGOUT_DEBUG "$@" ;;
	lib) set -- env P11LOGOUT_DEBUG=1 LD_PRELOAD="$(p11l_preload)" \
		$P11L_ASAN_NOLEAKS $P11L_VG "$@" ;;
	esac
	rm -f "$P11L_TMP/$tag".*
	PKCS11SPY=$P11L_SOFTHSM PKCS11SPY_OUTPUT=$P11L_TMP/$tag.trace \
		timeout 300 "$@" >"$P11L_TMP/$tag.out" 2>"$P11L_TMP/$tag.err"
	rc=$?
	p11l_spy_calls "$P11L_TMP/$tag.trace" >"$P11L_TMP/$tag.calls"
}

# same_run NAME: what the program sees is the same with and without the
# library, it logged in, the library recorded it, and it ends with its own
# C_Finalize.
same_run() {
	check "$1: same exit status with and without the library" [ "$rc_none" = "$rc_lib" ]
	if [ "$rc_none" != "$rc_lib" ]; then
		diag "status $rc_none without the library, $rc_lib with it; its stderr:"
		grep -a -v '^libp11logout:' "$P11L_TMP/$1-lib.err" | head -n 60 | sed 's/^/#   /'
	fi
	check "$1: same output with and without the library" cmp -s "$P11L_TMP/$1-none.out" "$P11L_TMP/$1-lib.out"
	check "$1: the library recorded the login" grep -q 'login as user recorded' "$P11L_TMP/$1-lib.err"
	check "$1: the program logged in (C_Login CKR_OK in the trace)" \
		[ "$(p11l_calls_count "$P11L_TMP/$1-none.calls" C_Login CKR_OK)" -ge 1 ]
	check "$1: it ends with its own C_Finalize" \
		[ "$(tail -n 1 "$P11L_TMP/$1-none.calls")" = "C_Finalize CKR_OK" ]
	open_at_fin=$(p11l_spy_open_at_finalize "$P11L_TMP/$1-none.trace")
}

# same_calls NAME: every session closed before C_Finalize: with the library
# the trace is the trace without it.
same_calls() {
	same_run "$1"
	check "$1: without the library no session is left open at its C_Finalize" [ "$open_at_fin" -eq 0 ]
	check "$1: not one extra call with the library" cmp -s "$P11L_TMP/$1-none.calls" "$P11L_TMP/$1-lib.calls"
	check "$1: no C_Logout from anyone" [ "$(p11l_calls_count "$P11L_TMP/$1-lib.calls" C_Logout)" -eq 0 ]
}

# logout_first_calls NAME: C_Finalize with a session open and logged in:
# with the library one C_Logout right before it, nothing else added.
logout_first_calls() {
	same_run "$1"
	check "$1: without the library its C_Finalize comes with a session open ($open_at_fin) and no C_Logout" \
		[ "$open_at_fin" -gt 0 -a "$(p11l_calls_count "$P11L_TMP/$1-none.calls" C_Logout)" -eq 0 ]
	if p11l_calls_logout_first "$P11L_TMP/$1-none.calls" "$P11L_TMP/$1-lib.calls"; then
		ok "$1: with the library exactly one C_Logout, CKR_OK, right before its C_Finalize; nothing else added"
	else
		not_ok "$1: with the library exactly one C_Logout, CKR_OK, right before its C_Finalize; nothing else added"
		diff "$P11L_TMP/$1-none.calls" "$P11L_TMP/$1-lib.calls" | head -n 20 | sed 's/^/#   /'
	fi
	check "$1: the library logged the logout before the C_Finalize" \
		grep -q 'C_Finalize: .*: C_Logout(session [0-9]*) -> CKR_OK' "$P11L_TMP/$1-lib.err"
}

# Under the sanitizer CI's ASan step, p11tool never exits: with only the
# ASan runtime preloaded (no libp11logout) it blocks in libp11-kit's
# destructor (freelocale, on glibc's locale lock).  The other builds and
# the valgrind step run it.
if [ -n "${P11L_PRELOAD_PREFIX:-}" ]; then
	diag "ASan build: p11tool hangs at exit under the ASan runtime alone; its checks are skipped"
	ok "# SKIP p11tool hangs under the ASan runtime, without libp11logout too"
elif command -v p11tool >/dev/null 2>&1; then
	for mode in none lib; do
		GNUTLS_PIN=$P11L_PIN run "p11tool-$mode" "$mode" p11tool --provider "$P11L_SPY" \
			--login --list-privkeys "pkcs11:token=$P11L_TOKEN_LABEL"
		eval "rc_$mode=\$rc"
	done
	check "p11tool lists the RSA key" grep -q "Label: $P11L_RSA_KEY" "$P11L_TMP/p11tool-lib.out"
	same_calls p11tool
else
	diag "p11tool (gnutls-bin) not installed: its checks are skipped"
	ok "# SKIP p11tool not installed"
fi

py=/usr/bin/python3
if [ -x "$py" ] && "$py" -c 'import PyKCS11' 2>/dev/null; then
	for mode in none lib; do
		run "pykcs11-$mode" "$mode" "$py" "$P11L_TEST_SRCDIR/consumers.py" \
			"$P11L_SPY" "$P11L_TOKEN_LABEL" "$P11L_PIN"
		eval "rc_$mode=\$rc"
	done
	check "PyKCS11 finds both private keys (RSA and EC)" grep -qx 'private keys: 2' "$P11L_TMP/pykcs11-lib.out"
	logout_first_calls pykcs11
else
	diag "python3-pykcs11 not installed: its checks are skipped"
	ok "# SKIP python3-pykcs11 not installed"
fi

done_testing
