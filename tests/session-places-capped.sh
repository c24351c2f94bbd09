#!/bin/sh
# P11LOGOUT_MAX_SESSIONS=16 on the session-capped fixture (cap 16), set to
# answer a login past its cap CKR_DEVICE_ERROR, as some devices do: an
# error P11LOGOUT_WAIT cannot retry.  64 signing processes at once, each
# login held 0.2 s, each on its own copy of the SoftHSM2 token:
#  - control, the library with P11LOGOUT_WAIT but no limit: some fail with
#    the fixture's CKR_DEVICE_ERROR;
#  - with the limit: 64 of 64, the fixture never had more than 16 logins
#    at once, refused none, and every device session is back after.
. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/capped-lib.sh"
capped_at_once_fixture
capped_setup "$T/tok" "$T/pool" 16
CAPPED_HOLD_MS=200 CAPPED_FULL_RV=DEVICE_ERROR CAPPED_VERBOSE=1
export CAPPED_HOLD_MS CAPPED_FULL_RV CAPPED_VERBOSE
. "$P11L_TEST_SRCDIR/engine-lib.sh"
p11l_engine_conf "$T/engine.cnf" "$CAPPED_MODULE"
OPENSSL_CONF=$T/engine.cnf
export OPENSSL_CONF
N=64
. "$P11L_TEST_SRCDIR/fair-wait-lib.sh"
fair_wait_copies "$T/tok" "$T/p" $N || bail_out "cannot copy the token"
PRE=$(p11l_preload)

refused() { cat "$T/pool/refused" 2>/dev/null | wc -l; }
peak() { cat "$T/pool/peak" 2>/dev/null || echo 0; }

"$CAPPED_COUNT" --reset >/dev/null
r=$(fair_wait_run "$T/p" $N LD_PRELOAD="$PRE" P11LOGOUT_WAIT=120)
c_ok=${r% *} c_refused=$(refused)
check "control, no limit: fewer than $N sign ($c_ok), the fixture refused logins with CKR_DEVICE_ERROR ($c_refused)" \
	test "$c_ok" -lt $N -a "$c_refused" -gt 0
"$CAPPED_COUNT" --reset >/dev/null

r=$(fair_wait_run "$T/p" $N LD_PRELOAD="$PRE" P11LOGOUT_WAIT=120 P11LOGOUT_MAX_SESSIONS=16)
l_ok=${r% *}
check "P11LOGOUT_MAX_SESSIONS=16: $N of $N sign (got $l_ok, in ${r#* } ms)" test "$l_ok" = $N
check "... the fixture never had more than 16 logins at once (peak $(peak))" test "$(peak)" -le 16
check "... and refused none ($(refused))" test "$(refused)" = 0
capped_count_is 0 "... and every device session is back"
bad=
for i in $(seq $N); do
	[ "$(cat "$T/p/$i/rc" 2>/dev/null)" = 0 ] || bad="$bad $i"
done
[ -z "$bad" ] || show "$T/p/${bad# }/err" 2>/dev/null
done_testing
