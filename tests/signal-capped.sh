#!/bin/sh
# P11LOGOUT_SIGNALS against the session-capped fixture (cap 16, like a
# YubiHSM 2 behind yubihsm-connector, which cannot see a process die): 40
# late-client processes, one after the other, each stopped with SIGTERM
# while it is logged in.  Without the setting the 17th cannot log in; with
# it every one gives its device session back and the count returns to its
# start.
. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/capped-lib.sh"
unset LD_PRELOAD
capped_require
[ -e "$P11L_LIB" ] || bail_out "$P11L_LIB is not built"
LIBPRE=$(p11l_preload)
N=${P11L_SIGNAL_RUNS:-40}
p11l_tmpdir
T=$P11L_TMP
: >"$T/empty.conf"

capped_token "$T/tok" || bail_out "no SoftHSM2 token"
SOFTHSM2_CONF=$T/tok/softhsm2.conf
export SOFTHSM2_CONF

# killed TAG [VAR=VALUE...]: one late-client, SIGTERMed once it has signed
# (it is logged in and sleeping then); its status in $rc, stderr in TAG.err.
killed() {
	tag=$1
	shift
	env -u P11LOGOUT_SIGNALS -u P11LOGOUT_DEBUG P11LOGOUT_CONFIG="$T/empty.conf" "$@" \
		"$LATE_CLIENT" --pin "$CAPPED_PIN" --sleep 30000 "$CAPPED_MODULE" t k1 \
		>/dev/null 2>"$T/$tag.err" &
	pid=$!
	j=0
	while ! grep -q 'late-client: C_Sign: 0x0' "$T/$tag.err" && kill -0 "$pid" 2>/dev/null &&
		[ $j -lt 300 ]; do
		sleep 0.05
		j=$((j + 1))
	done
	kill -s TERM "$pid" 2>/dev/null
	wait "$pid"
	rc=$?
}

# run SETTING...: N processes; sets got (how many signed) and first_fail.
run() {
	got=0 first_fail=0 statuses=
	for i in $(seq "$N"); do
		killed "$pool.$i" "$@"
		if grep -q 'late-client: C_Sign: 0x0' "$T/$pool.$i.err"; then
			got=$((got + 1))
		elif [ "$first_fail" = 0 ]; then
			first_fail=$i
			diag "$pool: process $i (status $rc):"
			sed 's/^/#   /' "$T/$pool.$i.err" | head -12
		fi
		statuses="$statuses $rc"
	done
}

# --- without the setting (control): the 17th fails ---
pool=off
capped_env "$T/pool-$pool"
start=$(capped_count)
run env LD_PRELOAD="$LIBPRE"
check "without P11LOGOUT_SIGNALS: the 17th process cannot log in (first failure: $first_fail, signed: $got of $N)" \
	test "$first_fail" = 17
check "without P11LOGOUT_SIGNALS: the pool ends full (count $(capped_count))" \
	test "$(capped_count)" = 16
if grep -q 'C_Login: 0x.*CKR_SESSION_COUNT\|0x1b1\|SESSION_COUNT' "$T/$pool.17.err"; then
	ok "without P11LOGOUT_SIGNALS: the 17th is refused for lack of sessions"
else
	not_ok "without P11LOGOUT_SIGNALS: the 17th is refused for lack of sessions"
	sed 's/^/#   /' "$T/$pool.17.err" | head -10
fi

# --- with it: every process gives its session back ---
pool=on
capped_env "$T/pool-$pool"
start=$(capped_count)
run env LD_PRELOAD="$LIBPRE" P11LOGOUT_SIGNALS=TERM
check "with P11LOGOUT_SIGNALS=TERM: all $N processes logged in and signed (got $got)" \
	test "$got" = "$N"
check "with P11LOGOUT_SIGNALS=TERM: the count is back at its start ($start; now $(capped_count))" \
	test "$(capped_count)" = "$start"
check "with P11LOGOUT_SIGNALS=TERM: each died of SIGTERM (143), as without the library" \
	test "$(echo $statuses | tr ' ' '\n' | sort -u | tr '\n' ' ')" = "143 "

done_testing
