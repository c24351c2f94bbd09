#!/bin/sh
# pkcs11-tool cleans up by itself (C_CloseSession, C_Finalize): at its exit
# nothing is logged in, so the library must make no call at all.  The spy
# trace with LD_PRELOAD must be the trace without it, call for call.
#
#     pkcs11-tool -> pkcs11-spy -> SoftHSM2

. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/softhsm-setup.sh"
. "$P11L_TEST_SRCDIR/spy-trace.sh"

p11l_spy_fixture

printf 'libp11logout pkcs11-tool test data\n' >"$P11L_TMP/data"
openssl dgst -sha256 -binary "$P11L_TMP/data" >"$P11L_TMP/data.sha256"

# tool TAG MODE PKCS11-TOOL-ARGS...: run pkcs11-tool on the spy (trace in
# $TAG.trace) without the library (MODE none), with it (lib), or with it and
# P11LOGOUT_DEBUG=1 (debug); an argument @SIG@ becomes $TAG.sig.  Leaves
# $TAG.names (the call names) and rc.
tool() {
	tag=$1 mode=$2
	shift 2
	rm -f "$P11L_TMP/$tag".*
	for a in "$@"; do
		shift
		[ "$a" = @SIG@ ] && a=$P11L_TMP/$tag.sig
		set -- "$@" "$a"
	done
	case $mode in
	none) set -- env -u LD_PRELOAD -u P11LOGOUT_DEBUG pkcs11-tool "$@" ;;
	lib) set -- env -u P11LOGOUT_DEBUG LD_PRELOAD="$(p11l_preload)" $P11L_ASAN_NOLEAKS \
		LD_DEBUG=libs LD_DEBUG_OUTPUT="$P11L_TMP/$tag.lddebug" $P11L_VG pkcs11-tool "$@" ;;
	debug) set -- env P11LOGOUT_DEBUG=1 LD_PRELOAD="$(p11l_preload)" $P11L_ASAN_NOLEAKS \
		$P11L_VG pkcs11-tool "$@" ;;
	esac
	PKCS11SPY=$P11L_SOFTHSM PKCS11SPY_OUTPUT=$P11L_TMP/$tag.trace \
		"$@" >"$P11L_TMP/$tag.out" 2>"$P11L_TMP/$tag.err"
	rc=$?
	if [ -f "$P11L_TMP/$tag.trace" ]; then
		p11l_spy_calls "$P11L_TMP/$tag.trace" >"$P11L_TMP/$tag.calls"
	else
		: >"$P11L_TMP/$tag.calls"
	fi
	cut -d' ' -f1 "$P11L_TMP/$tag.calls" >"$P11L_TMP/$tag.names"
}

show_run() {
	diag "exit status $rc; stderr:"
	head -n 20 "$P11L_TMP/$tag.err" | sed 's/^/#   /'
	diag "last calls in the spy trace ($tag.trace):"
	tail -n 8 "$P11L_TMP/$tag.calls" | sed 's/^/#   /'
}

# scenario NAME CHECK PKCS11-TOOL-ARGS...: the run without the library is
# sane (exit 0, CHECK holds, logged in, cleaned up by itself); the runs with
# the library (plain and P11LOGOUT_DEBUG=1) pass CHECK and their traces have
# the same sequence of calls.
scenario() {
	name=$1 check_fn=$2
	shift 2
	set -- --module "$P11L_SPY" --token-label "$P11L_TOKEN_LABEL" "$@"

	tool "$name-none" none "$@"
	base=$tag
	if [ "$rc" -eq 0 ] && $check_fn; then
		ok "$name without the library: pkcs11-tool succeeds"
	else
		not_ok "$name without the library: pkcs11-tool succeeds"; show_run
	fi
	calls=$P11L_TMP/$tag.calls
	li=$(p11l_calls_last "$calls" C_Login CKR_OK)
	fi_=$(p11l_calls_last "$calls" C_Finalize CKR_OK)
	lo=$(p11l_calls_last "$calls" C_Logout CKR_OK)
	[ "$lo" -gt "$fi_" ] && fi_=$lo
	if [ "$li" -gt 0 ] && [ "$fi_" -gt "$li" ]; then
		ok "$name without the library: logs in, and logs out or finalizes itself"
	else
		not_ok "$name without the library: logs in, and logs out or finalizes itself"
		diag "last C_Login: call $li; last C_Logout/C_Finalize: call $fi_"; show_run
	fi

	for mode in lib debug; do
		case $mode in
		lib) what="with LD_PRELOAD" ;;
		debug) what="with LD_PRELOAD and P11LOGOUT_DEBUG=1" ;;
		esac
		tool "$name-$mode" "$mode" "$@"
		if [ "$rc" -eq 0 ] && $check_fn; then
			ok "$name $what: pkcs11-tool succeeds"
		else
			not_ok "$name $what: pkcs11-tool succeeds"; show_run
		fi
		if [ "$mode" = lib ]; then
			if cat "$P11L_TMP/$tag.lddebug".* 2>/dev/null |
			   grep -F -q "calling init: $P11L_LIB"; then
				ok "$name $what: the library is loaded (LD_DEBUG=libs)"
			else
				not_ok "$name $what: the library is loaded (LD_DEBUG=libs)"
			fi
		fi
		if [ -s "$P11L_TMP/$tag.names" ] &&
		   cmp -s "$P11L_TMP/$base.names" "$P11L_TMP/$tag.names"; then
			ok "$name $what: same calls as without the library ($(wc -l <"$P11L_TMP/$tag.names"))"
		else
			not_ok "$name $what: same calls as without the library"
			diff -u "$P11L_TMP/$base.names" "$P11L_TMP/$tag.names" |
				sed 's/^/#   /' | head -n 40
			show_run
		fi
	done
	if grep -a -q '^libp11logout:' "$P11L_TMP/$name-debug.err"; then
		diag "P11LOGOUT_DEBUG=1 output of pkcs11-tool:"
		grep -a '^libp11logout:' "$P11L_TMP/$name-debug.err" | head -n 10 | sed 's/^/#   /'
	fi
}

rsa_sig_verifies() {
	openssl dgst -sha256 -verify "$P11L_RSA_PUB" -signature "$P11L_TMP/$tag.sig" \
		"$P11L_TMP/data" >/dev/null 2>&1
}
ec_sig_verifies() {
	openssl dgst -sha256 -verify "$P11L_EC_PUB" -signature "$P11L_TMP/$tag.sig" \
		"$P11L_TMP/data" >/dev/null 2>&1
}
lists_private_keys() {
	grep -q "label: *$P11L_RSA_KEY\$" "$P11L_TMP/$tag.out" &&
	grep -q "label: *$P11L_EC_KEY\$" "$P11L_TMP/$tag.out" &&
	grep -q "^Private Key Object" "$P11L_TMP/$tag.out"
}

# Sign.  pkcs11-tool --sign selects the key by --id (a --label is ignored).
scenario "sign RSA" rsa_sig_verifies \
	--login --pin "$P11L_PIN" --sign --mechanism SHA256-RSA-PKCS \
	--id "$P11L_RSA_ID" \
	--input-file "$P11L_TMP/data" --output-file @SIG@

# ECDSA over the SHA-256 digest computed here.
scenario "sign EC" ec_sig_verifies \
	--login --pin "$P11L_PIN" --sign --mechanism ECDSA \
	--signature-format openssl --id "$P11L_EC_ID" \
	--input-file "$P11L_TMP/data.sha256" --output-file @SIG@

# Log in and list the private objects.
scenario "list private objects" lists_private_keys \
	--login --pin "$P11L_PIN" --list-objects --type privkey

done_testing
