#!/bin/sh
# P11LOGOUT_WAIT on the session-capped fixture (YubiHSM-like: a login takes
# one of CAPPED_MAX_SESSIONS device sessions, C_Login returns
# CKR_SESSION_COUNT when none is free).
#  - a wait shorter than needed: the last CKR_SESSION_COUNT comes back
#    unchanged, when the time is up
#  - a wait that ends when another process logs out
#  - 64 signing processes at once, cap 16, each login held for half a
#    second (CAPPED_HOLD_MS=500), each on its own copy of the SoftHSM2
#    token: with the library but without the wait some fail on the cap
#    (about 48 on an idle 2-core machine, about 20 on a loaded one: it
#    depends on how many log in at the same moment); with the wait all 64
#    succeed, and the taken count ends at its start.
# So that the 64 really log in at once on a small machine, each reads its
# PIN from a FIFO (pin-source=file:...), which libp11 opens after loading
# the module and before logging in; the test opens the 64 FIFOs and only
# then writes the PINs.
. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/capped-lib.sh"
unset LD_PRELOAD P11LOGOUT_DEBUG P11LOGOUT_TIMEOUT P11LOGOUT_WAIT P11LOGOUT_MODE \
	P11LOGOUT_LOG P11LOGOUT_MODULES P11LOGOUT_MODULE
capped_at_once_fixture

capped_setup "$T/tok" "$T/pool"
PUB=$T/tok/k1.pem
CAPPED_VERBOSE=1
export CAPPED_VERBOSE

# late I PRELOAD [VAR=VALUE...]: late-client, stderr in $T/late/I.err, its
# elapsed ms in $T/late/I.ms; returns its status.
mkdir "$T/late"
late() {
	li=$1 lpre=$2
	shift 2
	t0=$(now_ms)
	if [ -n "$lpre" ]; then
		env LD_PRELOAD="$lpre" "$@" "$LATE_CLIENT" --pin "$CAPPED_PIN" \
			-o "$T/late/$li.sig" "$CAPPED_MODULE" t k1 2>"$T/late/$li.err"
	else
		env "$@" "$LATE_CLIENT" --pin "$CAPPED_PIN" \
			-o "$T/late/$li.sig" "$CAPPED_MODULE" t k1 2>"$T/late/$li.err"
	fi
	lrc=$?
	echo $(($(now_ms) - t0)) >"$T/late/$li.ms"
	return $lrc
}

# --- a wait shorter than needed ---
CAPPED_MAX_SESSIONS=1
export CAPPED_MAX_SESSIONS
late take "" || diag "taking the only session failed"
capped_count_is 1 "the only device session is taken (a client exited logged in)"

late nowait "$P11L_LIB" P11LOGOUT_DEBUG=1
check "library without the wait: the login fails with CKR_SESSION_COUNT" \
	grep -q 'C_Login: 0xb1' "$T/late/nowait.err"
check "library without the wait: at once ($(cat "$T/late/nowait.ms") ms < 1500)" \
	test "$(cat "$T/late/nowait.ms")" -lt 1500
check "library without the wait: not tried again" \
	sh -c "! grep -q 'tried again' '$T/late/nowait.err'"

late short "$P11L_LIB" P11LOGOUT_WAIT=2 P11LOGOUT_DEBUG=1
check "P11LOGOUT_WAIT=2, never free: late-client fails (status 1)" test $? = 1
check "P11LOGOUT_WAIT=2: the program gets the module's CKR_SESSION_COUNT unchanged" \
	grep -q 'C_Login: 0xb1 (CKR_SESSION_COUNT)' "$T/late/short.err"
t=$(cat "$T/late/short.ms")
check "P11LOGOUT_WAIT=2: after the wait ($t ms, between 2000 and 3500)" \
	test "$t" -ge 2000 -a "$t" -lt 3500
n=$(sed -n 's/.*C_Login: no session free; tried again \([0-9]*\) times -> CKR_SESSION_COUNT$/\1/p' "$T/late/short.err")
check "P11LOGOUT_WAIT=2: the debug log says C_Login was tried again (${n:-no} times)" \
	test "${n:-0}" -ge 2
capped_count_is 1 "the failed attempts took no session"

# --- a wait that ends when another process logs out ---
"$CAPPED_COUNT" --reset >/dev/null
late holder "$P11L_LIB" CAPPED_HOLD_MS=1500 &
holder=$!
# Until the holder has logged in.
i=0
while [ "$(capped_count)" != 1 ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
capped_count_is 1 "a client that holds the only session (and logs out at exit)"
late waiter "$P11L_LIB" P11LOGOUT_WAIT=30 P11LOGOUT_DEBUG=1 CAPPED_HOLD_MS=0
wrc=$?
wait "$holder"
check "the holder signed and exited 0" test $? = 0
check "P11LOGOUT_WAIT=30: the waiting client signs (status $wrc)" test "$wrc" = 0
check "... after C_Login was tried again and succeeded" \
	grep -q 'C_Login: no session free; tried again [0-9]* times -> CKR_OK' "$T/late/waiter.err"
check "... and its signature verifies" \
	sh -c "printf late-client >'$T/late.dat' && openssl dgst -sha256 -verify '$PUB' -signature '$T/late/waiter.sig' '$T/late.dat' >/dev/null 2>&1"
capped_count_is 0 "both logged out at exit"

# --- 64 processes at once, cap 16, logins held 0.5 s ---
CAPPED_MAX_SESSIONS=16 CAPPED_HOLD_MS=500
export CAPPED_MAX_SESSIONS CAPPED_HOLD_MS
# The engine gets the fixture from an OPENSSL_CONF engine section: libp11
# 0.4.12 to 0.4.21 keep their session there until exit, as a signing
# process that holds its login does.  (With PKCS11_MODULE_PATH, 0.4.13
# and later finalize before exit and hold the session for less time.)
. "$P11L_TEST_SRCDIR/engine-lib.sh"
p11l_engine_conf "$T/engine.cnf" "$CAPPED_MODULE"
OPENSSL_CONF=$T/engine.cnf
export OPENSSL_CONF
unset PKCS11_MODULE_PATH
N=64
. "$P11L_TEST_SRCDIR/fair-wait-lib.sh"
fair_wait_copies "$T/tok" "$T/p" $N || bail_out "cannot copy the token"

# at_once [VAR=VALUE...]: the N signing processes at once (fair_wait_run),
# with the library and VAR=VALUE...; $T/p/I/rc, err, sig per process.
# Prints the ms from the release of the PINs to the end of the last one.
at_once() {
	fw_r=$(fair_wait_run "$T/p" $N LD_PRELOAD="$P11L_LIB" "$@")
	echo "${fw_r#* }"
}

# tally: sets okrun, capfail, otherfail and lists.
tally() {
	okrun=0 capfail=0 otherfail=0 others=
	for i in $(seq $N); do
		if [ "$(cat "$T/p/$i/rc" 2>/dev/null)" = 0 ]; then
			okrun=$((okrun + 1))
		elif grep -q 'C_Login: all 16 device sessions are taken: CKR_SESSION_COUNT' "$T/p/$i/err"; then
			capfail=$((capfail + 1))
		else
			otherfail=$((otherfail + 1)) others="$others $i"
		fi
	done
}
verify_ok() {
	vbad=
	for i in $(seq $N); do
		[ "$(cat "$T/p/$i/rc" 2>/dev/null)" = 0 ] || continue
		openssl dgst -sha256 -verify "$PUB" -signature "$T/p/$i/sig" \
			"$T/p/$i/data" >/dev/null 2>&1 || vbad="$vbad $i"
	done
	[ -z "$vbad" ] || { diag "signatures that do not verify:$vbad"; return 1; }
}

"$CAPPED_COUNT" --reset >/dev/null
t=$(at_once)
tally
diag "library without the wait: $okrun succeeded, $capfail failed on the cap, $otherfail otherwise, ${t} ms"
check "library without the wait: some of 64 fail (got $((capfail + otherfail)))" \
	test $((capfail + otherfail)) -ge 1
check "... every failure is the session cap (CKR_SESSION_COUNT)${others:+, not:$others}" \
	test "$otherfail" = 0
check "... the ones that ran sign correctly" verify_ok
capped_count_is 0 "... and they gave their sessions back"
[ "$otherfail" = 0 ] || { set -- $others; sed 's/^/#   /' "$T/p/$1/err"; }

"$CAPPED_COUNT" --reset >/dev/null
late take2a "" && late take2b "" || diag "taking two sessions failed"
start=$(capped_count)
check "two sessions taken beforehand" test "$start" = 2
t=$(at_once P11LOGOUT_WAIT=120 P11LOGOUT_DEBUG=1)
tally
diag "with P11LOGOUT_WAIT=120: $okrun succeeded, $capfail failed on the cap, $otherfail otherwise, ${t} ms"
check "with P11LOGOUT_WAIT=120: all 64 succeed (got $okrun)" test "$okrun" = $N
[ "$okrun" = $N ] || { for i in $(seq $N); do [ "$(cat "$T/p/$i/rc")" = 0 ] || { sed 's/^/#   /' "$T/p/$i/err"; break; }; done; }
check "... and all 64 signatures verify" verify_ok
capped_count_is "$start" "... and the taken count ends at its start"
waited=$(cat "$T"/p/*/err | grep -c 'C_Login: no session free; tried again [0-9]* times -> CKR_OK')
check "... at least 30 of them waited for a session ($waited)" test "$waited" -ge 30
queued=$(cat "$T"/p/*/err | grep -c 'waited [0-9]* ms for a free session (queue of this host) -> CKR_OK')
check "... each of them in the queue of this host ($queued)" test "$queued" = "$waited"

done_testing
