# Helpers for the tests that run "openssl dgst -engine pkcs11 -sign" against
# the SoftHSM2 token with pkcs11-spy in the chain.  Sourced after tap-lib.sh,
# softhsm-setup.sh and spy-trace.sh, once P11L_TMP and the token exist.

# p11l_engine_conf FILE [MODULE]: an OPENSSL_CONF that loads the libp11
# engine ($P11L_ENGINE) with MODULE as its PKCS#11 module (without MODULE,
# the engine takes PKCS11_MODULE_PATH).  The openssl command line then
# stays exactly what a user types: -engine pkcs11 -keyform engine.
p11l_engine_conf() {
	{
	cat <<EOF
openssl_conf = p11l_init

[p11l_init]
engines = p11l_engines

[p11l_engines]
pkcs11 = p11l_pkcs11

[p11l_pkcs11]
engine_id = pkcs11
dynamic_path = $P11L_ENGINE
EOF
	[ -z "${2:-}" ] || echo "MODULE_PATH = $2"
	} >"$1"
}

# p11l_provider_conf FILE MODULE [LINE...]: an OPENSSL_CONF that loads
# pkcs11-provider ($P11L_PROVIDER) beside the default one, with MODULE as
# its PKCS#11 module and the extra LINEs in its section.
p11l_provider_conf() {
	p11l_pc_f=$1 p11l_pc_m=$2
	shift 2
	{
		printf '%s\n' 'openssl_conf = p11l_init' '[p11l_init]' \
			'providers = p11l_providers' '[p11l_providers]' \
			'default = p11l_default' 'pkcs11 = p11l_pkcs11' \
			'[p11l_default]' 'activate = 1' '[p11l_pkcs11]' \
			"module = $P11L_PROVIDER" "pkcs11-module-path = $p11l_pc_m" \
			'activate = 1'
		for p11l_pc_l in "$@"; do echo "$p11l_pc_l"; done
	} >"$p11l_pc_f"
}

# p11l_libp11_provider: the path of libp11's provider (pkcs11prov) where
# this openssl looks for providers (P11L_LIBP11_PROV overrides it); prints
# it and succeeds where it is installed.
p11l_libp11_provider() {
	p11l_md=$(openssl version -m 2>/dev/null | sed -n 's/^MODULESDIR: "\(.*\)"$/\1/p')
	p11l_lp=${P11L_LIBP11_PROV:-${p11l_md:-/usr/lib/$p11l_multiarch/ossl-modules}/pkcs11prov.so}
	echo "$p11l_lp"
	[ -r "$p11l_lp" ]
}

# p11l_libp11_provider_conf FILE MODULE: an OPENSSL_CONF that loads libp11's
# provider (p11l_libp11_provider, identity pkcs11prov) beside the default
# one, with MODULE as its PKCS#11 module.
p11l_libp11_provider_conf() {
	p11l_lpc_path=$(p11l_libp11_provider)
	cat >"$1" <<EOF
openssl_conf = p11l_init

[p11l_init]
providers = p11l_providers

[p11l_providers]
default = p11l_default
pkcs11 = p11l_libp11

[p11l_default]
activate = 1

[p11l_libp11]
identity = pkcs11prov
module = $p11l_lpc_path
pkcs11_module = $2
activate = 1
EOF
}

# Data to sign.
p11l_engine_data() {
	printf 'libp11logout test data\n' >"$P11L_TMP/data"
	head -c 3000 /dev/urandom >>"$P11L_TMP/data"
}

# p11l_sign TAG KEY [LAUNCHER...]: run, through LAUNCHER (e.g. "env
# LD_PRELOAD=...", p11-run), with OPENSSL_CONF=$P11L_CONF and the spy loading
# $P11L_SPY_TARGET (default: SoftHSM2) and writing $TAG.trace:
#     openssl dgst -sha256 -engine pkcs11 -keyform engine \
#         -sign 'pkcs11:token=p11l;object=KEY;type=private;pin-value=1234'
# Leaves $TAG.sig, $TAG.err, $TAG.calls (see p11l_spy_calls); sets tag, rc.
p11l_sign() {
	tag=$1 key=$2
	shift 2
	rm -f "$P11L_TMP/$tag".*
	PKCS11SPY=${P11L_SPY_TARGET:-$P11L_SOFTHSM} \
	PKCS11SPY_OUTPUT=$P11L_TMP/$tag.trace \
	OPENSSL_CONF=$P11L_CONF \
		"$@" openssl dgst -sha256 -engine pkcs11 -keyform engine \
		-sign "pkcs11:token=$P11L_TOKEN_LABEL;object=$key;type=private;pin-value=$P11L_PIN" \
		-out "$P11L_TMP/$tag.sig" "$P11L_TMP/data" \
		>"$P11L_TMP/$tag.out" 2>"$P11L_TMP/$tag.err"
	rc=$?
	p11l_sign_calls
}

# Reduce $TAG.trace to $TAG.calls (empty when the spy wrote nothing).
p11l_sign_calls() {
	if [ -f "$P11L_TMP/$tag.trace" ]; then
		p11l_spy_calls "$P11L_TMP/$tag.trace" >"$P11L_TMP/$tag.calls"
	else
		: >"$P11L_TMP/$tag.calls"
	fi
}

# Diagnostics for the last run.
p11l_show() {
	diag "exit status $rc; stderr:"
	grep -a -v '^  *\(IN\|OUT\):' "$P11L_TMP/$tag.err" | head -40 | sed 's/^/#   /'
	diag "last calls in the spy trace ($tag.trace):"
	tail -n 12 "$P11L_TMP/$tag.calls" | sed 's/^/#   /'
}

p11l_verifies() {
	openssl dgst -sha256 -verify "$1" -signature "$P11L_TMP/$tag.sig" \
		"$P11L_TMP/data" >/dev/null 2>&1
}

# p11l_check_signed DESC PUB: the command worked, its signature verifies, the
# spy saw C_Sign succeed.  (No "check" from tap-lib here: it sets "d".)
p11l_check_signed() {
	desc=$1
	if [ "$rc" -eq 0 ]; then ok "$desc: openssl exits 0"
	else not_ok "$desc: openssl exits 0"; p11l_show; fi
	if p11l_verifies "$2"; then ok "$desc: signature verifies with the public key"
	else not_ok "$desc: signature verifies with the public key"; p11l_show; fi
	n=$(p11l_calls_count "$P11L_TMP/$tag.calls" C_Sign CKR_OK)
	if [ "$n" -ge 1 ]; then ok "$desc: C_Sign returned CKR_OK in the spy trace"
	else not_ok "$desc: C_Sign returned CKR_OK in the spy trace"; p11l_show; fi
}

# p11l_check_logged_in DESC: the defect: logged in, never logged out.
p11l_check_logged_in() {
	desc=$1
	n=$(p11l_calls_count "$P11L_TMP/$tag.calls" C_Login CKR_OK)
	if [ "$n" -ge 1 ]; then ok "$desc: C_Login returned CKR_OK"
	else not_ok "$desc: C_Login returned CKR_OK"; p11l_show; fi
	n=$(p11l_calls_count "$P11L_TMP/$tag.calls" C_Logout)
	if [ "$n" -eq 0 ]; then ok "$desc: exits logged in (no C_Logout in the trace)"
	else
		not_ok "$desc: exits logged in (no C_Logout in the trace)"
		diag "found $n C_Logout without the library: does libp11 log out by itself now?"
		p11l_show
	fi
}

# p11l_check_released DESC [CALLS]: in CALLS (default $TAG.calls) exactly one
# C_Logout returned CKR_OK, the last C_Logout returned CKR_OK and came after
# the last successful C_Sign.
p11l_check_released() {
	desc=$1 calls=${2:-$P11L_TMP/$tag.calls}
	n=$(p11l_calls_count "$calls" C_Logout CKR_OK)
	if [ "$n" -eq 1 ]; then ok "$desc: exactly one C_Logout returning CKR_OK"
	else not_ok "$desc: exactly one C_Logout returning CKR_OK"; diag "found $n"; p11l_show; fi
	lastrv=$(p11l_calls_last_rv "$calls" C_Logout)
	lo=$(p11l_calls_last "$calls" C_Logout)
	si=$(p11l_calls_last "$calls" C_Sign CKR_OK)
	if [ "$lastrv" = CKR_OK ] && [ "$si" -gt 0 ] && [ "$lo" -gt "$si" ]; then
		ok "$desc: last C_Logout returns CKR_OK after C_Sign"
	else
		not_ok "$desc: last C_Logout returns CKR_OK after C_Sign"
		diag "last C_Logout: call $lo returned $lastrv; last C_Sign: call $si"
		p11l_show
	fi
}

# p11l_check_closed DESC: no session of the spy trace is left open.
p11l_check_closed() {
	desc=$1
	if [ -f "$P11L_TMP/$tag.trace" ]; then
		left=$(p11l_spy_open_sessions "$P11L_TMP/$tag.trace" | tr '\n' ' ')
	else
		left="(no spy trace written)"
	fi
	if [ -z "$left" ]; then ok "$desc: no session left open at exit"
	else not_ok "$desc: no session left open at exit"; diag "still open: $left"; p11l_show; fi
}

p11l_check_quiet() {
	if grep -a -q 'libp11logout:' "$P11L_TMP/$tag.err"; then
		not_ok "$1: silent on stderr without P11LOGOUT_DEBUG"; p11l_show
	else
		ok "$1: silent on stderr without P11LOGOUT_DEBUG"
	fi
}

p11l_check_debug() {
	if grep -a -q '^libp11logout:' "$P11L_TMP/$tag.err"; then
		ok "$1: prints libp11logout: lines on stderr"
		grep -a '^libp11logout:' "$P11L_TMP/$tag.err" | head -20 | sed 's/^/#   /'
	else
		not_ok "$1: prints libp11logout: lines on stderr"; p11l_show
	fi
}

# --- what the stack does without the library (issue 10) ---
# Newer libp11 releases clean up by themselves in some configurations (with
# PKCS11_MODULE_PATH, 0.4.13 and later close their sessions and call
# C_Finalize), so a test first observes its baseline and then asserts the
# matching claim: one C_Logout where the program leaked, nothing extra
# where it cleaned up.

# p11l_exit_state TRACE: "leaked" when the spy trace ends logged in (a
# C_Login returned CKR_OK, no C_Logout, C_Finalize or C_CloseAllSessions
# returned CKR_OK after it, and a session is still open), "cleaned" when
# it does not, "no-login" when nothing logged in.
p11l_exit_state() {
	[ -f "$1" ] || { echo no-login; return; }
	p11l_spy_calls "$1" >"$1.state-calls"
	li=$(p11l_calls_last "$1.state-calls" C_Login CKR_OK)
	if [ "$li" -eq 0 ]; then echo no-login; return; fi
	after=$(awk -v l="$li" 'NR > l && $2 == "CKR_OK" &&
		($1 == "C_Logout" || $1 == "C_Finalize" || $1 == "C_CloseAllSessions") { n++ }
		END { print n + 0 }' "$1.state-calls")
	if [ "$after" -eq 0 ] && [ -n "$(p11l_spy_open_sessions "$1")" ]; then
		echo leaked
	else
		echo cleaned
	fi
}

# p11l_lifecycle CALLS: the session-lifecycle calls and their return values
# (what libp11logout could add), one per line.
p11l_lifecycle() {
	awk '$1 ~ /^C_(Initialize|Finalize|OpenSession|CloseSession|CloseAllSessions|Login|Logout)$/' "$1"
}

# p11l_check_baseline DESC: after the run without the library ($tag):
# the program signed and logged in; sets p11l_base to leaked or cleaned
# and p11l_base_tag to this run's tag, and says which.
p11l_check_baseline() {
	desc=$1
	p11l_base=$(p11l_exit_state "$P11L_TMP/$tag.trace")
	p11l_base_tag=$tag
	if [ "$p11l_base" = no-login ]; then
		not_ok "$desc: C_Login returned CKR_OK"; p11l_show
	else
		ok "$desc: C_Login returned CKR_OK"
	fi
	case $p11l_base in
	leaked) diag "$desc: exits still logged in (the defect this library is for)" ;;
	cleaned) diag "$desc: logs out, finalizes or closes every session by itself" ;;
	esac
}

# p11l_check_as_baseline DESC [BASETAG]: after the run with the library
# ($tag), against the run without it (BASETAG, default the last one
# checked by p11l_check_baseline): where the program leaked, exactly one
# C_Logout returned CKR_OK after C_Sign and no session is left open; where
# it cleaned up, the module saw the same lifecycle calls as without the
# library (not one extra).
p11l_check_as_baseline() {
	desc=$1
	if [ -n "${2:-}" ]; then
		p11l_base_tag=$2
		p11l_base=$(p11l_exit_state "$P11L_TMP/$2.trace")
	fi
	case $p11l_base in
	leaked)
		p11l_check_released "$desc"
		p11l_check_closed "$desc"
		;;
	cleaned)
		p11l_lifecycle "$P11L_TMP/$p11l_base_tag.calls" >"$P11L_TMP/$tag.base-lc"
		p11l_lifecycle "$P11L_TMP/$tag.calls" >"$P11L_TMP/$tag.lc"
		if cmp -s "$P11L_TMP/$tag.base-lc" "$P11L_TMP/$tag.lc"; then
			ok "$desc: the program cleans up by itself: the same lifecycle calls as without the library"
		else
			not_ok "$desc: the program cleans up by itself: the same lifecycle calls as without the library"
			diff "$P11L_TMP/$tag.base-lc" "$P11L_TMP/$tag.lc" | sed 's/^/#   /'
		fi
		n0=$(p11l_calls_count "$P11L_TMP/$p11l_base_tag.calls" C_Logout)
		n1=$(p11l_calls_count "$P11L_TMP/$tag.calls" C_Logout)
		check "$desc: not one extra C_Logout ($n1, without the library $n0)" test "$n1" = "$n0"
		;;
	*)
		not_ok "$desc: no usable baseline (nothing logged in without the library)"
		not_ok "$desc: no usable baseline"
		;;
	esac
}
