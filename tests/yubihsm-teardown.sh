#!/bin/sh
# Before and after OpenSSL's teardown, on the real yubihsm_pkcs11 module
# and the device simulator.  The module's CLOSE SESSION is encrypted with
# libcrypto's AES: before yubihsm-shell 2.8.0 (PR #528) that fails once
# OPENSSL_cleanup() has run, before anything is sent.
#  - The module alone: late-client logs out from an exit handler that runs
#    after OPENSSL_cleanup() (--late-logout), against the same client
#    exiting without teardown.  Observed and asserted as one of the two
#    outcomes: the late C_Logout fails and not one more request reaches the
#    device, the session is left open (2.6.0); or it returns CKR_OK and the
#    device counts an authenticated CLOSE SESSION (2.8.0).
#  - The stacks whose own teardown runs from OPENSSL_cleanup(): libp11's
#    engine and provider with PKCS11_FORCE_CLEANUP=1 (where libp11 knows
#    it: 0.4.21), libp11's engine configured by PKCS11_MODULE_PATH (0.4.13
#    and later clean up by themselves then), pkcs11-provider's default.
#    Without the library: reported, and either an authenticated close or
#    a session left open.
#  - With the library, every one of them: the device counts one
#    authenticated CLOSE SESSION and nothing is left open.

. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/yubihsm-stack-lib.sh"

ymod_fixture
[ -x "$LATE_CLIENT" ] || bail_out "late-client not built: $LATE_CLIENT"
ymod_versions
ymod_start --idle-timeout 600
# The engine with no MODULE_PATH: it takes PKCS11_MODULE_PATH.
p11l_engine_conf "$T/engine-env.cnf"

# snap: the counters before a run; delta TAG: after it, "OPEN CLOSED
# REQUESTS" differences into d_open d_closed d_req (and TAG.delta).
snap() {
	ymod_counts
	s_open=$y_open s_closed=$y_closed s_req=$(sed -n 's/^requests=//p' "$T/sim.status")
}
delta() {
	ymod_counts
	d_open=$((y_open - s_open)) d_closed=$((y_closed - s_closed))
	d_req=$(($(sed -n 's/^requests=//p' "$T/sim.status") - s_req))
	echo "open +$d_open, closed +$d_closed, requests +$d_req" >"$T/$1.delta"
}
late_rv() { sed -n 's/^late-client: late C_Logout: //p' "$T/$1.err"; }

# --- the module alone: late-client ---
snap
ymod_late plain ""
delta plain
req_plain=$d_req
check "late-client exiting without teardown: signs, leaves its session ($(cat "$T/plain.delta"))" \
	test "$(cat "$T/plain.rc")" = 0 -a "$d_open" = 1 -a "$d_closed" = 0
snap
ymod_late late "" -- --late-logout
delta late
rv=$(late_rv late)
diag "C_Logout after OPENSSL_cleanup, without the library: $rv; simulator: $(cat "$T/late.delta") (without teardown: requests +$req_plain)"
if [ "$rv" != 0x0 ] && [ "$d_req" = "$req_plain" ] && [ "$d_closed" = 0 ] && [ "$d_open" = 1 ]; then
	late_kind=lost
	ok "late C_Logout without the library: fails ($rv) before sending anything; the session is left open"
elif [ "$rv" = 0x0 ] && [ "$d_req" = $((req_plain + 1)) ] && [ "$d_closed" = 1 ] && [ "$d_open" = 0 ]; then
	late_kind=closed
	ok "late C_Logout without the library: CKR_OK, one authenticated CLOSE SESSION after OPENSSL_cleanup"
else
	late_kind=other
	not_ok "late C_Logout without the library: fails before sending, or closes authenticated (got $rv, $(cat "$T/late.delta"))"
	ymod_show late
fi
snap
ymod_late late-lib lib -- --late-logout
delta late-lib
check "late C_Logout with the library: the library's logout before OPENSSL_cleanup is an authenticated CLOSE SESSION ($(cat "$T/late-lib.delta"))" \
	test "$(cat "$T/late-lib.rc")" = 0 -a "$d_closed" = 1 -a "$d_open" = 0
check "late C_Logout with the library: the client's own late C_Logout gets CKR_OK ($(late_rv late-lib))" \
	test "$(late_rv late-lib)" = 0x0

# --- the stacks' own teardown from OPENSSL_cleanup ---
# case NAME STACK CONF VAR=VALUE...: the stack's openssl without and with
# the library.
teardown_case() {
	tc_n=$1 tc_s=$2 tc_conf=$3
	shift 3
	cp "$T/$tc_conf.cnf" "$T/$tc_n.cnf"
	for tc_m in without with; do
		tc_pre=
		[ $tc_m = with ] && tc_pre=lib
		snap
		# The module's own log says why a close was not sent.
		tc_dbg=
		[ $tc_m = without ] && tc_dbg=YUBIHSM_PKCS11_DBG=1
		ymod_sign "$tc_s" "$tc_n-$tc_m" "$tc_pre" OPENSSL_CONF="$T/$tc_n.cnf" $tc_dbg "$@"
		delta "$tc_n-$tc_m"
		tc_v=no
		ymod_verifies "$tc_n-$tc_m" && tc_v=yes
		tc_rc=$(cat "$T/$tc_n-$tc_m.rc")
		if [ $tc_m = without ]; then
			if [ "$d_closed" = 1 ] && [ "$d_open" = 0 ]; then tc_k="authenticated close"
			elif [ "$d_closed" = 0 ] && [ "$d_open" = 1 ]; then tc_k="session left open"
			else tc_k=other; fi
			diag "$tc_n without the library: exit $tc_rc, signature verifies: $tc_v; $tc_k; simulator: $(cat "$T/$tc_n-$tc_m.delta")"
			grep -a 'Failed closing device session\|Failed to close session\|Failed.*logout' "$T/$tc_n-$tc_m.err" |
				sed 's/^.*\] /# the module: /' | sort -u | head -n 3
			check "$tc_n without the library: signs, then an authenticated close or a session left open (got: $tc_k)" \
				test "$tc_v" = yes -a "$tc_k" != other
		else
			diag "$tc_n with the library: exit $tc_rc; simulator: $(cat "$T/$tc_n-$tc_m.delta")"
			check "$tc_n with the library: signs; one authenticated CLOSE SESSION, nothing left open" \
				test "$tc_v" = yes -a "$d_closed" = 1 -a "$d_open" = 0
			check "$tc_n with the library: exits 0" test "$tc_rc" = 0
		fi
		[ "$tc_rc" = 0 ] || ymod_show "$tc_n-$tc_m"
	done
}

if why=$(ymod_stack_missing engine); then
	diag "libp11's engine: $why"
else
	if grep -a -q PKCS11_FORCE_CLEANUP "$P11L_ENGINE"; then
		teardown_case engine-force-cleanup engine engine PKCS11_FORCE_CLEANUP=1
	else
		diag "this libp11 engine does not know PKCS11_FORCE_CLEANUP (0.4.21 does)"
	fi
	teardown_case engine-module-path engine engine-env PKCS11_MODULE_PATH="$P11L_YUBIHSM_MODULE"
fi
if why=$(ymod_stack_missing libp11-provider); then
	diag "libp11's provider: $why"
else
	teardown_case libp11-provider-force-cleanup libp11-provider libp11-provider PKCS11_FORCE_CLEANUP=1
fi
if why=$(ymod_stack_missing pkcs11-provider); then
	diag "pkcs11-provider: $why"
else
	teardown_case pkcs11-provider-default pkcs11-provider pkcs11-provider
fi

ymod_done
