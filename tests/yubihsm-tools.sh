#!/bin/sh
# Real tools on the real yubihsm_pkcs11 module and the device simulator.
#  - pkcs11-tool (OpenSC) on the module: RSA and ECDSA signatures and a
#    listing of the private keys.  Observed first: without the library it
#    ends its device session itself (closed +1, nothing left open).  With
#    the library: the calls that reach the module (its own call log;
#    pkcs11-spy crashes in front of it) are those without it, call for
#    call (not one PKCS#11 call added), and the device saw the same.
#  - osslsigncode signs a PE file with the device's RSA key through
#    libp11's engine (-pkcs11engine, -pkcs11module: the module): observed
#    without the library (a session left, or ended by the tool), then with
#    it: both files verify against the key's certificate, nothing is left
#    open and the device counted one authenticated CLOSE SESSION.  Where
#    the tool ends with its own C_Finalize, logged in (libp11 0.4.21's
#    engine does; this module's C_Finalize sends nothing to the device),
#    the calls that reach the module are those without the library with
#    one C_Logout added, right before that C_Finalize; where it ends the
#    session itself (libp11 0.4.13: C_CloseAllSessions), not one call is
#    added.

. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/yubihsm-stack-lib.sh"
. "$P11L_TEST_SRCDIR/consumer-lib.sh"

ymod_fixture
command -v pkcs11-tool >/dev/null 2>&1 || skip_all "pkcs11-tool not installed (opensc)"
ymod_versions
ymod_start --idle-timeout 600

printf 'libp11logout pkcs11-tool test data\n' >"$T/data"
openssl dgst -sha256 -binary "$T/data" >"$T/data.sha256"

snap() { ymod_counts; s_open=$y_open s_closed=$y_closed; }
delta() {
	ymod_counts
	d_open=$((y_open - s_open)) d_closed=$((y_closed - s_closed))
	echo "open +$d_open, closed +$d_closed" >"$T/$1.delta"
}

# tool TAG PRE PKCS11-TOOL-ARGS...: pkcs11-tool on the module, PRE "" or
# lib; @SIG@ becomes TAG.sig; TAG.rc, TAG.delta, and TAG.names: the calls
# that reached the module, in order, from its own log
# (YUBIHSM_PKCS11_DINOUT: a line as each call starts).  pkcs11-spy cannot
# stand in front of this module (see below).
tool() {
	tt=$1 tp=$2
	shift 2
	for a in "$@"; do
		shift
		[ "$a" = @SIG@ ] && a=$T/$tt.sig
		set -- "$@" "$a"
	done
	[ "$tp" = lib ] && tp=$(p11l_preload)
	snap
	if [ -n "$tp" ]; then
		env LD_PRELOAD="$tp" $P11L_ASAN_NOLEAKS YUBIHSM_PKCS11_DINOUT=1 \
			timeout 120 pkcs11-tool --module "$P11L_YUBIHSM_MODULE" "$@" \
			>"$T/$tt.out" 2>"$T/$tt.err" </dev/null
	else
		env YUBIHSM_PKCS11_DINOUT=1 timeout 120 pkcs11-tool --module "$P11L_YUBIHSM_MODULE" "$@" \
			>"$T/$tt.out" 2>"$T/$tt.err" </dev/null
	fi
	echo $? >"$T/$tt.rc"
	delta "$tt"
	sed -n 's/^.*(\(C_[A-Za-z0-9_]*\)): In$/\1/p' "$T/$tt.err" >"$T/$tt.names"
}

rsa_ok() { openssl dgst -sha256 -verify "$T/k1.pub" -signature "$T/$1.sig" "$T/data" >/dev/null 2>&1; }
ec_ok() { openssl dgst -sha256 -verify "$T/e1.pub" -signature "$T/$1.sig" "$T/data" >/dev/null 2>&1; }
lists_ok() { grep -q 'label: *k1$' "$T/$1.out" && grep -q 'label: *e1$' "$T/$1.out"; }

# scenario NAME CHECK ARGS...: without, then with the library.
scenario() {
	sn=$1 sc=$2
	shift 2
	tool "$sn-without" "" --login --pin "$YMOD_PIN" "$@"
	dw=$(cat "$T/$sn-without.delta")
	check "pkcs11-tool $sn without the library: succeeds, and ends its device session itself ($dw)" \
		test "$(cat "$T/$sn-without.rc")" = 0 -a "$d_open" = 0 -a "$d_closed" = 1
	check "pkcs11-tool $sn without the library: the output is right" "$sc" "$sn-without"
	tool "$sn-with" lib --login --pin "$YMOD_PIN" "$@"
	if [ "$(cat "$T/$sn-with.rc")" = 0 ] && "$sc" "$sn-with"; then
		ok "pkcs11-tool $sn with the library: succeeds, the output is right"
	else
		not_ok "pkcs11-tool $sn with the library: succeeds, the output is right"
		ymod_show "$sn-with"
	fi
	if [ -s "$T/$sn-with.names" ] && cmp -s "$T/$sn-without.names" "$T/$sn-with.names"; then
		ok "pkcs11-tool $sn with the library: the same PKCS#11 calls as without it ($(wc -l <"$T/$sn-with.names"))"
	else
		not_ok "pkcs11-tool $sn with the library: the same PKCS#11 calls as without it"
		diff "$T/$sn-without.names" "$T/$sn-with.names" | head -n 20 | sed 's/^/#   /'
	fi
	check "pkcs11-tool $sn with the library: the device saw the same ($(cat "$T/$sn-with.delta"); without: $dw)" \
		test "$(cat "$T/$sn-with.delta")" = "$dw"
}

# pkcs11-spy in front of the module, as tests/pkcs11-tool.sh uses it:
# reported, not used.
env PKCS11SPY="$P11L_YUBIHSM_MODULE" PKCS11SPY_OUTPUT="$T/spy.trace" timeout 60 \
	pkcs11-tool --module "$P11L_SPY" -L >/dev/null 2>&1
diag "pkcs11-spy in front of yubihsm_pkcs11 (pkcs11-tool -L): status $?, calls traced: $(grep -c '^[0-9]*: C_' "$T/spy.trace" 2>/dev/null)"
# Observed first: pkcs11-tool may not get past this module's C_Initialize.
tool probe "" -L
if [ "$(cat "$T/probe.rc")" != 0 ]; then
	diag "pkcs11-tool -L on yubihsm_pkcs11 without the library: status $(cat "$T/probe.rc"); $(grep -a -h 'option unknown\|Segmentation\|rror' "$T/probe.out" "$T/probe.err" | sed 's/^.*\] //' | head -n 2 | tr '\n' ' ')"
	ok "# SKIP pkcs11-tool fails on this module by itself (status $(cat "$T/probe.rc") in C_Initialize), nothing to compare"
else
scenario "sign RSA" rsa_ok --sign --mechanism SHA256-RSA-PKCS --id 0002 \
	--input-file "$T/data" --output-file @SIG@
scenario "sign EC" ec_ok --sign --mechanism ECDSA --signature-format openssl --id 0003 \
	--input-file "$T/data.sha256" --output-file @SIG@
scenario "list private keys" lists_ok --list-objects --type privkey
fi

# --- osslsigncode through libp11's engine ---
if ! command -v osslsigncode >/dev/null 2>&1; then
	diag "osslsigncode not installed: no Authenticode signature"
elif why=$(ymod_stack_missing engine); then
	diag "osslsigncode: $why"
elif ! p11l_cons_pe "$T/hello.exe" 3; then
	diag "osslsigncode: cannot make a PE file: $(head -n 1 "$T/pe.log")"
else
	diag "$(osslsigncode --version 2>&1 | head -n 1)"
	# The key's certificate, signed by the device (the library ends that
	# process's session).
	env LD_PRELOAD="$(p11l_preload)" $P11L_ASAN_NOLEAKS OPENSSL_CONF="$T/engine.cnf" \
		openssl req -new -x509 -engine pkcs11 -keyform engine -key "$(ymod_uri engine k1)" \
		-subj /CN=k1 -days 30 -addext keyUsage=critical,digitalSignature \
		-addext extendedKeyUsage=codeSigning -out "$T/k1.crt" >"$T/req.log" 2>&1 ||
		{ sed 's/^/# /' "$T/req.log"; bail_out "cannot make the certificate"; }
	for m in without with; do
		pre=
		[ $m = with ] && pre=$(p11l_preload)
		snap
		rm -f "$T/signed-$m.exe"
		env ${pre:+LD_PRELOAD="$pre"} YUBIHSM_PKCS11_DINOUT=1 timeout 120 osslsigncode sign \
			-pkcs11engine "$P11L_ENGINE" -pkcs11module "$P11L_YUBIHSM_MODULE" \
			-certs "$T/k1.crt" -key "$(ymod_uri engine k1)" \
			-in "$T/hello.exe" -out "$T/signed-$m.exe" >"$T/oss-$m.out" 2>"$T/oss-$m.err" </dev/null
		echo $? >"$T/oss-$m.rc"
		delta "oss-$m"
		sed -n 's/^.*(\(C_[A-Za-z0-9_]*\)): In$/\1/p' "$T/oss-$m.err" >"$T/oss-$m.names"
		diag "osslsigncode $m the library: exit $(cat "$T/oss-$m.rc"); simulator: $(cat "$T/oss-$m.delta")"
		if osslsigncode verify -CAfile "$T/k1.crt" -in "$T/signed-$m.exe" >"$T/oss-$m.verify" 2>&1; then
			ok "osslsigncode $m the library: signs with the device key; the file verifies"
		else
			not_ok "osslsigncode $m the library: signs with the device key; the file verifies"
			sed 's/^/#   /' "$T/oss-$m.err" "$T/oss-$m.verify" | head -n 20
		fi
	done
	dw=$(cat "$T/oss-without.delta")
	case $dw in
	"open +1, closed +0") diag "osslsigncode without the library leaves its device session" ;;
	"open +0, closed +1") diag "osslsigncode without the library ends its device session itself" ;;
	*) not_ok "osslsigncode without the library: leaves its session or ends it ($dw)" ;;
	esac
	# libp11's engine may end with C_Finalize and no C_Logout
	# (ENGINE_finish): the library logs out right before it.
	ends=$(grep -E '^C_(Logout|CloseSession|CloseAllSessions|Finalize)$' "$T/oss-without.names" | tr '\n' ' ')
	diag "osslsigncode's own calls that end a login, without the library: $ends"
	w=$(cat "$T/oss-with.delta")
	check "osslsigncode with the library: nothing left open, one authenticated CLOSE SESSION ($w)" \
		test "$w" = "open +0, closed +1"
	if [ "$dw" = "open +1, closed +0" ] && [ "$(tail -n 1 "$T/oss-without.names")" = C_Finalize ] &&
		! grep -qx C_Logout "$T/oss-without.names"; then
		awk -v at="$(wc -l <"$T/oss-without.names")" 'NR == at { print "C_Logout" } { print }' \
			"$T/oss-without.names" >"$T/oss-expected.names"
		same "osslsigncode with the library: the calls without it, and one C_Logout right before its own C_Finalize" \
			"$T/oss-expected.names" "$T/oss-with.names"
	elif [ "$dw" = "open +0, closed +1" ]; then
		same "osslsigncode with the library: not one extra call (it ends its device session itself)" \
			"$T/oss-without.names" "$T/oss-with.names"
	fi
fi

ymod_done
