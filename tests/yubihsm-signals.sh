#!/bin/sh
# Signals on the real yubihsm_pkcs11 module and the device simulator, its
# idle expiry shortened to 3 s (P11L_YSIG_IDLE) and 32 sessions: 20
# late-client processes at once, each logged in and sleeping after its
# signature, then killed.
#  - SIGTERM without the library, and with it but without
#    P11LOGOUT_SIGNALS: right after the kill the 20 device sessions are
#    still open, none closed; the idle expiry frees them (expired +20).
#  - SIGTERM with P11LOGOUT_SIGNALS=TERM: right after the kill every
#    session is closed, by an authenticated CLOSE SESSION (closed +20),
#    none left to expire.
#  - SIGKILL with P11LOGOUT_SIGNALS=TERM: never released (no handler
#    runs); only the expiry frees them.
# The exit status is always the signal's (143, 137), as without the
# library.

. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/yubihsm-stack-lib.sh"

ymod_fixture
[ -x "$LATE_CLIENT" ] || bail_out "late-client not built: $LATE_CLIENT"
ymod_versions
N=20
IDLE=${P11L_YSIG_IDLE:-3}
# More sessions than processes: the cap is not what this is about.
ymod_start --idle-timeout "$IDLE" --sessions 32

# held NAME SIG PRE [VAR=VALUE...]: N late-clients at once, killed with
# SIG once all have signed (or after 30 s); their statuses in
# NAME.statuses (sorted, unique), how many signed in ready.
held() {
	h_n=$1 h_sig=$2 h_pre=$3
	shift 3
	[ "$h_pre" = lib ] && h_pre=$(p11l_preload)
	h_pids=
	for i in $(seq $N); do
		(
			for v in "$@"; do export "$v"; done
			[ -n "$h_pre" ] && export LD_PRELOAD="$h_pre"
			# The sleep bounds a process the kill missed.
			exec env --default-signal=INT,QUIT "$LATE_CLIENT" --pin "$YMOD_PIN" --sleep 60000 \
				"$P11L_YUBIHSM_MODULE" "$YMOD_TOKEN" k1
		) >/dev/null 2>"$T/$h_n.$i.err" </dev/null &
		h_pids="$h_pids $!"
	done
	# Until each has signed or ended.
	j=0
	while [ $j -lt 300 ]; do
		ready=0 h_wait=0 i=0
		for p in $h_pids; do
			i=$((i + 1))
			if grep -q 'late-client: C_Sign: 0x0' "$T/$h_n.$i.err"; then
				ready=$((ready + 1))
			elif kill -0 "$p" 2>/dev/null; then
				h_wait=1
			fi
		done
		[ $h_wait = 0 ] && break
		sleep 0.1
		j=$((j + 1))
	done
	# shellcheck disable=SC2086
	kill -s "$h_sig" $h_pids 2>/dev/null
	: >"$T/$h_n.st"
	for p in $h_pids; do
		wait "$p" 2>/dev/null
		echo $? >>"$T/$h_n.st"
	done
	sort -u "$T/$h_n.st" | tr '\n' ' ' | sed 's/ $//' >"$T/$h_n.statuses"
}

# expiry: waits for the open count to come back (at most 4 idle times +
# 10 s); sets e_open and e_expired (the expiries since snap).
snap() { ymod_counts; s_open=$y_open s_closed=$y_closed s_expired=$y_expired; }
expiry() {
	j=0
	while ymod_counts && [ "$y_open" != "$s_open" ] && [ $j -lt $((IDLE * 40 + 100)) ]; do
		sleep 0.1
		j=$((j + 1))
	done
	e_open=$y_open e_expired=$((y_expired - s_expired))
}

# scenario NAME SIG EXPECT PRE [VAR=VALUE...]: EXPECT released (closed
# at once) or held (until the expiry).
scenario() {
	sc_n=$1 sc_sig=$2 sc_x=$3
	shift 3
	snap
	held "$sc_n" "$sc_sig" "$@"
	ymod_counts
	a_open=$((y_open - s_open)) a_closed=$((y_closed - s_closed)) a_expired=$((y_expired - s_expired))
	st=$(cat "$T/$sc_n.statuses")
	diag "$sc_n: $ready of $N signed; right after SIG$sc_sig: open +$a_open, closed +$a_closed, expired +$a_expired; statuses $st"
	check "$sc_n: all $N logged in and signed before SIG$sc_sig (got $ready)" test "$ready" = $N
	[ "$ready" = $N ] || sed 's/^/#   /' "$T/$sc_n.1.err" | head -n 12
	case $sc_sig in
	TERM) want=143 ;;
	KILL) want=137 ;;
	esac
	check "$sc_n: every process dies of SIG$sc_sig (status $want; got $st)" test "$st" = "$want"
	if [ "$sc_x" = released ]; then
		check "$sc_n: right after SIG$sc_sig every device session is closed, authenticated (open +$a_open, closed +$a_closed)" \
			test "$a_open" = 0 -a "$a_closed" = $N
		[ "$a_expired" = 0 ] || diag "$sc_n: $a_expired sessions had expired before the kill (a slow start): raise P11L_YSIG_IDLE"
	else
		check "$sc_n: right after SIG$sc_sig the $N device sessions are still open, none closed (open +$a_open, closed +$a_closed)" \
			test "$a_open" = $N -a "$a_closed" = 0
		expiry
		diag "$sc_n: after the idle expiry: open $e_open, expired +$e_expired"
		check "$sc_n: the idle expiry frees them (expired +$e_expired, open back at $s_open)" \
			test "$e_expired" = $N -a "$e_open" = "$s_open"
	fi
}

scenario term-without TERM held ""
scenario term-lib-nosetting TERM held lib
scenario term-lib-signals TERM released lib P11LOGOUT_SIGNALS=TERM
scenario kill-lib-signals KILL held lib P11LOGOUT_SIGNALS=TERM

ymod_done
