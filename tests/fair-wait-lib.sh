# N signing processes at once against the session-capped fixture, for the
# benchmark and wait-capped.sh.  Sourced after tap-lib.sh, capped-lib.sh and
# p11l_tmpdir.
#
#   fair_wait_setup DIR N      a token and N copies of it under DIR
#   fair_wait_copies TOK DIR N N copies of the token TOK under DIR, each
#                              with its data to sign
#   fair_wait_run DIR N [VAR=VALUE...]
#                              runs the N at once, with VAR=VALUE... in their
#                              environment; prints "ok ms" (how many
#                              succeeded, ms from the release of the PINs to
#                              the end of the last, "-" when they were never
#                              released) and leaves each one's
#                              stderr in DIR/I/err
#   fair_wait_waits DIR N      one line per process that succeeded: its wait
#                              in ms (see below)
#
# So that the N really log in at once, each reads its PIN from a FIFO, which
# libp11 opens after loading the module and before logging in; the PINs are
# written only when all N have opened theirs.  The clock starts then.
#
# A process's wait is the time from the module's first CKR_SESSION_COUNT to
# the return of the call that succeeded, as the library's debug log states
# it ("waited N ms for a free session ... -> CKR_OK"), or with
# P11LOGOUT_MAX_SESSIONS the time it waited for a place ("waited N ms for
# one of 16 places"); a process whose first login succeeded waited 0.

fair_wait_setup() {
	capped_token "$1/tok" >/dev/null 2>&1 || return 1
	fair_wait_copies "$1/tok" "$1" "$2"
}

fair_wait_copies() {
	fw_i=1
	while [ $fw_i -le "$3" ]; do
		capped_token_copy "$1" "$2/$fw_i" || return 1
		printf 'file %s\n' "$fw_i" >"$2/$fw_i/data"
		fw_i=$((fw_i + 1))
	done
}

fair_wait_run() {
	fw_dir=$1 fw_n=$2
	shift 2
	fw_pids=
	fw_i=1
	while [ $fw_i -le "$fw_n" ]; do
		fw_d=$fw_dir/$fw_i
		rm -f "$fw_d/pin" "$fw_d/rc" "$fw_d/sig" "$fw_d/err"
		mkfifo "$fw_d/pin" || return 1
		(
			SOFTHSM2_CONF=$fw_d/softhsm2.conf
			export SOFTHSM2_CONF
			timeout 600 env "$@" openssl dgst -sha256 -engine pkcs11 -keyform engine \
				-sign "pkcs11:token=t;object=k1;type=private;pin-source=file:$fw_d/pin" \
				-out "$fw_d/sig" "$fw_d/data" >/dev/null 2>"$fw_d/err"
			echo $? >"$fw_d/rc"
		) &
		fw_pids="$fw_pids $!"
		fw_i=$((fw_i + 1))
	done
	rm -f "$fw_dir/released"
	timeout 300 bash "$P11L_TEST_SRCDIR/pin-gate.bash" "$fw_dir/released" "$CAPPED_PIN" \
		"$fw_n" "$fw_dir" /pin &
	fw_gate=$!
	# A process that exits before it opens its FIFO (openssl failing at
	# once) would keep the gate waiting for it, and the others waiting for
	# the gate: then the gate is stopped, and each FIFO opened and closed
	# until every process has exited, so that the others read no PIN and
	# fail at once too.  The gate's whole process group (timeout's own):
	# a timeout killed early dies without passing the signal on, and its
	# gate, left open on a FIFO no one reads, would keep this function's
	# output (a command substitution) open for ever.
	fw_stuck=
	while kill -0 "$fw_gate" 2>/dev/null; do
		if [ ! -f "$fw_dir/released" ] && ls "$fw_dir"/*/rc >/dev/null 2>&1; then
			kill "$fw_gate" 2>/dev/null
			kill -- "-$fw_gate" 2>/dev/null
			fw_stuck=1
			break
		fi
		sleep 0.1
	done
	wait "$fw_gate" || echo "fair_wait_run: the PIN gate failed" >&2
	while [ -n "$fw_stuck" ]; do
		fw_stuck=
		for fw_p in $fw_pids; do kill -0 "$fw_p" 2>/dev/null && fw_stuck=1; done
		fw_i=1
		while [ -n "$fw_stuck" ] && [ $fw_i -le "$fw_n" ]; do
			[ -p "$fw_dir/$fw_i/pin" ] && : 9<>"$fw_dir/$fw_i/pin"
			fw_i=$((fw_i + 1))
		done
		[ -z "$fw_stuck" ] || sleep 0.2
	done
	# shellcheck disable=SC2086
	wait $fw_pids
	if [ -f "$fw_dir/released" ]; then
		fw_ms=$((($(date +%s%N) - $(cat "$fw_dir/released")) / 1000000))
	else
		fw_ms=-
	fi
	fw_ok=0
	fw_i=1
	while [ $fw_i -le "$fw_n" ]; do
		[ "$(cat "$fw_dir/$fw_i/rc" 2>/dev/null)" = 0 ] && fw_ok=$((fw_ok + 1))
		fw_i=$((fw_i + 1))
	done
	echo "$fw_ok $fw_ms"
}

fair_wait_waits() {
	fw_i=1
	while [ $fw_i -le "$2" ]; do
		if [ "$(cat "$1/$fw_i/rc" 2>/dev/null)" = 0 ]; then
			fw_w=$(sed -n 's/.*: waited \([0-9]*\) ms for \(a free session .* -> CKR_OK\|one of [0-9]* places\)$/\1/p' "$1/$fw_i/err" | tail -n 1)
			echo "${fw_w:-0}"
		fi
		fw_i=$((fw_i + 1))
	done
}

# fair_wait_stats: median, 99th percentile and maximum of the numbers on
# stdin (nearest rank), as "median p99 max".
fair_wait_stats() {
	sort -n | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "- - -"; exit }
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		r = int(0.99 * NR + 0.999999); if (r < 1) r = 1
		print m, v[r], v[NR] }'
}
