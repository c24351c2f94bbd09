# The real yubihsm_pkcs11 module (Debian's yubihsm-pkcs11) against the
# device simulator (yubihsm-lib.sh), through the OpenSSL stacks a user
# signs with.  What a test asserts comes from the simulator's counters: a
# device session is freed only by an authenticated CLOSE SESSION or by the
# idle expiry.  Sourced after tap-lib.sh; a test file starts with
# ymod_fixture.
#
#   ymod_fixture             skips, naming it, where the module, the
#                            simulator's needs or timeout(1) are missing;
#                            makes P11L_TMP (T), the stacks' OPENSSL_CONF
#                            files; sources yubihsm-lib.sh
#   ymod_start [ARGS...]     a fresh simulator (p11l_sim_start ARGS: new
#                            counters, no session) with the two keys
#   ymod_take N              N sessions left open by clients that exited
#   ymod_stacks              sets YMOD_STACKS, the stacks present: engine,
#                            libp11-provider, pkcs11-provider,
#                            pkcs11-provider-no-deinit; diag for the others
#   ymod_sign STACK TAG PRE [VAR=VALUE...]
#                            one "openssl dgst -sha256 -sign" of TAG.dat
#                            (made when absent) into TAG.sig with key
#                            $YMOD_KEY (k1); PRE "" or lib; TAG.rc, .err
#   ymod_late TAG PRE [VAR=VALUE...] -- [LATE-CLIENT ARGS...]
#                            tests/late-client on the module, key k1
#   ymod_verifies TAG [KEY]  TAG.sig is KEY's signature of TAG.dat
#   ymod_counts              sets y_open y_created y_closed y_expired
#                            y_refused from the simulator
#   ymod_stack_missing STACK why STACK cannot run here
#   ymod_refused_msg TAG     TAG's stderr names a refused login
#   ymod_versions            diag: the packages' versions
#   ymod_todo DESC REASON    a known failure (TAP TODO)
#   ymod_done                done_testing, after the test's time

. "$P11L_TEST_SRCDIR/engine-lib.sh"

LATE_CLIENT=$P11L_TEST_BUILDDIR/late-client
P11L_LIBP11_PROV=$(p11l_libp11_provider)
# The module's token label (yubihsm_pkcs11.c, C_GetTokenInfo).
YMOD_TOKEN=YubiHSM
YMOD_KEY=${YMOD_KEY:-k1}

ymod_fixture() {
	YMOD_T0=$(date +%s)
	command -v timeout >/dev/null 2>&1 || skip_all "timeout(1) is needed"
	[ -r "$P11L_LIB" ] || bail_out "library not built: $P11L_LIB"
	p11l_tmpdir
	T=$P11L_TMP
	p11l_hermetic
	unset LD_PRELOAD OPENSSL_CONF PKCS11_MODULE_PATH PKCS11_FORCE_CLEANUP
	# The module first (yubihsm-lib.sh's default path): where it is not
	# packaged nothing else is needed.
	P11L_YUBIHSM_MODULE=${P11L_YUBIHSM_MODULE:-/usr/lib/$p11l_multiarch/pkcs11/yubihsm_pkcs11.so}
	[ -r "$P11L_YUBIHSM_MODULE" ] ||
		skip_all "yubihsm_pkcs11.so not installed ($P11L_YUBIHSM_MODULE: Debian's yubihsm-pkcs11, from Debian 13 on; not packaged in Debian 12)"
	. "$P11L_TEST_SRCDIR/yubihsm-lib.sh"
	if ymod_why=$(p11l_sim_missing); then skip_all "$ymod_why"; fi
	YMOD_PIN=$P11L_YUBIHSM_PIN
	# The waiters' lock files (P11LOGOUT_WAIT) go here, not in the user's
	# runtime directory.
	mkdir "$T/run" || bail_out "mkdir failed"
	XDG_RUNTIME_DIR=$T/run
	export XDG_RUNTIME_DIR
	# The engine: MODULE_PATH in OPENSSL_CONF, the configuration in which
	# every libp11 from 0.4.12 to 0.4.21 leaves its login at exit.
	p11l_engine_conf "$T/engine.cnf" "$P11L_YUBIHSM_MODULE"
	p11l_libp11_provider_conf "$T/libp11-provider.cnf" "$P11L_YUBIHSM_MODULE"
	p11l_provider_conf "$T/pkcs11-provider.cnf" "$P11L_YUBIHSM_MODULE"
	p11l_provider_conf "$T/pkcs11-provider-no-deinit.cnf" "$P11L_YUBIHSM_MODULE" \
		'pkcs11-module-quirks = no-deinit'
}

ymod_start() {
	p11l_sim_start "$@" || bail_out "the simulator did not start"
	# The keys live in the simulator's state file, kept across restarts.
	[ -s "$P11L_TMP/k1.pub" ] || p11l_sim_seed_keys
}

# ymod_stack_missing STACK: prints why STACK cannot run here (returns 0),
# or returns 1.
ymod_stack_missing() {
	case $1 in
	engine) p11l_engine_missing && return 0 ;;
	libp11-provider)
		[ -r "$P11L_LIBP11_PROV" ] ||
			{ echo "libp11's provider not installed ($P11L_LIBP11_PROV; libp11 0.4.14 and later)"; return 0; } ;;
	pkcs11-provider*)
		[ -r "$P11L_PROVIDER" ] ||
			{ echo "pkcs11-provider not installed ($P11L_PROVIDER)"; return 0; } ;;
	esac
	return 1
}

ymod_stacks() {
	YMOD_STACKS=
	for ys_s in engine libp11-provider pkcs11-provider pkcs11-provider-no-deinit; do
		if ys_why=$(ymod_stack_missing "$ys_s"); then
			diag "$ys_s: not here: $ys_why"
		else
			YMOD_STACKS="$YMOD_STACKS $ys_s"
		fi
	done
}

# ymod_uri STACK KEY: the key's URI as that stack takes a PIN.
# With YMOD_PIN_FILE set, the PIN is read from that file (pin-source).
ymod_uri() {
	yu_pin="pin-value=$YMOD_PIN"
	[ -n "${YMOD_PIN_FILE:-}" ] && yu_pin="pin-source=file:$YMOD_PIN_FILE"
	case $1 in
	pkcs11-provider*) echo "pkcs11:object=$2;type=private?$yu_pin" ;;
	*) echo "pkcs11:object=$2;type=private;$yu_pin" ;;
	esac
}

ymod_sign() {
	ys_s=$1 ys_tag=$2 ys_pre=$3
	shift 3
	[ "$ys_pre" = lib ] && ys_pre=$(p11l_preload)
	[ -f "$T/$ys_tag.dat" ] || printf 'file %s\n' "$ys_tag" >"$T/$ys_tag.dat"
	rm -f "$T/$ys_tag.sig"
	(
		OPENSSL_CONF=$T/$ys_s.cnf
		export OPENSSL_CONF
		for ys_v in "$@"; do export "${ys_v?}"; done
		set -- openssl dgst -sha256
		[ "$ys_s" = engine ] && set -- "$@" -engine pkcs11 -keyform engine
		set -- "$@" -sign "$(ymod_uri "$ys_s" "$YMOD_KEY")" \
			-out "$T/$ys_tag.sig" "$T/$ys_tag.dat"
		if [ -n "$ys_pre" ]; then
			exec timeout 120 env LD_PRELOAD="$ys_pre" $P11L_ASAN_NOLEAKS "$@"
		fi
		exec timeout 120 "$@"
	) >"$T/$ys_tag.out" 2>"$T/$ys_tag.err" </dev/null
	ys_rc=$?
	echo "$ys_rc" >"$T/$ys_tag.rc"
	return "$ys_rc"
}

ymod_late() {
	yl_tag=$1 yl_pre=$2
	shift 2
	[ "$yl_pre" = lib ] && yl_pre=$(p11l_preload)
	yl_vars=
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		yl_vars="$yl_vars $(p11l_quote "$1")"
		shift
	done
	[ $# -gt 0 ] && shift
	printf late-client >"$T/$yl_tag.dat"
	(
		eval "set -- $yl_vars -- \"\$@\""
		while [ "$1" != -- ]; do export "$1"; shift; done
		shift
		if [ -n "$yl_pre" ]; then
			exec timeout 120 env LD_PRELOAD="$yl_pre" $P11L_ASAN_NOLEAKS "$LATE_CLIENT" \
				--pin "$YMOD_PIN" "$@" -o "$T/$yl_tag.sig" \
				"$P11L_YUBIHSM_MODULE" "$YMOD_TOKEN" k1
		fi
		exec timeout 120 "$LATE_CLIENT" --pin "$YMOD_PIN" "$@" -o "$T/$yl_tag.sig" \
			"$P11L_YUBIHSM_MODULE" "$YMOD_TOKEN" k1
	) >"$T/$yl_tag.out" 2>"$T/$yl_tag.err" </dev/null
	yl_rc=$?
	echo "$yl_rc" >"$T/$yl_tag.rc"
	return "$yl_rc"
}

ymod_verifies() {
	openssl dgst -sha256 -verify "$P11L_TMP/${2:-$YMOD_KEY}.pub" -signature "$T/$1.sig" \
		"$T/$1.dat" >/dev/null 2>&1
}

# One request for all five (p11l_sim_stat starts python3 for each).
ymod_counts() {
	if command -v curl >/dev/null 2>&1; then
		curl -s -f --max-time 30 "$P11L_SIM_URL/sim/status" >"$T/sim.status"
	else
		"$P11L_PYTHON" -c 'import sys, urllib.request
sys.stdout.write(urllib.request.urlopen(sys.argv[1] + "/sim/status", timeout=30).read().decode())' \
			"$P11L_SIM_URL" >"$T/sim.status"
	fi || bail_out "the simulator's /sim/status does not answer"
	y_open= y_created= y_closed= y_expired= y_refused=
	eval "$(sed -n 's/^sessions_\(open\|created\|closed\|expired\|refused\)=\([0-9][0-9]*\)$/y_\1=\2/p' "$T/sim.status")"
}

# ymod_counts_line: the counters as one line, for diag.
ymod_counts_line() {
	ymod_counts
	echo "open $y_open, created $y_created, closed $y_closed, expired $y_expired, refused $y_refused"
}

# ymod_take N: N device sessions held by clients that exited logged in
# (late-client, which skips its teardown as libp11 0.4.14 and later do),
# so that "back to its start" is checked from a count other than 0.
ymod_take() {
	for yt_i in $(seq "$1"); do
		ymod_late "take$yt_i" "" >/dev/null || {
			diag "taking a session failed:"
			sed 's/^/#   /' "$T/take$yt_i.err" | head -n 10
		}
	done
}

ymod_versions() {
	command -v dpkg-query >/dev/null 2>&1 || return 0
	diag "$(dpkg-query -W -f '${Package} ${Version}; ' yubihsm-pkcs11 libyubihsm2 \
		libengine-pkcs11-openssl pkcs11-provider openssl 2>/dev/null)"
}

# ymod_show TAG: a run's status and stderr as comments.
ymod_show() {
	diag "$1: exit status $(cat "$T/$1.rc" 2>/dev/null); stderr:"
	grep -a -v '^libp11logout:' "$T/$1.err" 2>/dev/null | head -n 12 | sed 's/^/#   /'
}

# ymod_refused_msg TAG: TAG's stderr names the refused login
# (CKR_SESSION_COUNT, 0xb1, libp11's "Session count"); ymod_refused_line
# TAG: that line.
YMOD_REFUSED_RE='session.count|SESSION_COUNT|0x0*b1([^0-9a-f]|$)'
ymod_refused_msg() {
	grep -a -q -i -E "$YMOD_REFUSED_RE" "$T/$1.err"
}
ymod_refused_line() {
	grep -a -i -E "$YMOD_REFUSED_RE" "$T/$1.err" | head -n 1
}

# ymod_todo DESC REASON: a known failure, as TAP's TODO (automake counts it
# as XFAIL; it does not fail the test).
ymod_todo() {
	P11L_TAP_N=$((P11L_TAP_N + 1))
	echo "not ok $P11L_TAP_N - $1 # TODO $2"
}

# ymod_done: done_testing, after the test's wall time as a comment (which
# .ci/distro.sh sums).
ymod_done() {
	diag "yubihsm tests: this test took $(($(date +%s) - YMOD_T0)) s"
	done_testing
}
