#!/bin/sh
# P11LOGOUT_SIGNALS (issue 12), against odd-module: a process stopped by a
# listed signal after its login releases it, then dies of that signal
# (status 128+N, as without the library); without the setting, no release.
# A signal while the program is inside the module holding its lock ends
# the process within the bound; a program's own handler is left alone; an
# ignored signal stays ignored; a second signal ends the process at once.
. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/robust-lib.sh"

EXIT_DRIVER=$P11L_TEST_BUILDDIR/exit-driver
[ -x "$EXIT_DRIVER" ] || bail_out "missing $EXIT_DRIVER: run make check"

# signalled TAG PRELOAD SIGNALS WHEN [VAR=VALUE...] -- COMMAND...: runs
# COMMAND in the background (run_bg: hermetic, as run), waits for WHEN in
# its log, sends each of SIGNALS (comma-separated; "-" for a pause of
# 0.3 s), and waits for it.  Leaves TAG.rc, TAG.log, TAG.out, TAG.err,
# TAG.ms (from the first signal to the end).
signalled() {
	stag=$1 spre=$2 sigs=$3 when=$4
	shift 4
	run_bg "$stag" "$spre" "$@"
	pid=$p11l_pid
	i=0
	while ! grep -q -x -F -- "$when" "$T/$tag.log" && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	t0=$(date +%s%N)
	for s in $(echo "$sigs" | tr ',' ' '); do
		if [ "$s" = - ]; then sleep 0.3; else kill -s "$s" "$pid" 2>/dev/null; fi
	done
	wait "$pid"
	echo $? >"$T/$tag.rc"
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000)) >"$T/$tag.ms"
}

logouts() { grep -c -x -F 'odd C_Logout(slot 1) -> CKR_OK' "$T/$1.log"; }

for s in TERM INT HUP QUIT; do
	n=sig-$s
	signalled "$n.without" "" "$s" "driver: logged in" -- "$EXIT_DRIVER" wait "$ODD"
	signalled "$n.off" lib "$s" "driver: logged in" -- "$EXIT_DRIVER" wait "$ODD"
	signalled "$n.with" lib "$s" "driver: logged in" P11LOGOUT_SIGNALS=TERM,INT,HUP,QUIT -- \
		"$EXIT_DRIVER" wait "$ODD"
	check "$n: control without the library: dies of SIG$s (status $(rc "$n.without")), no C_Logout" \
		test "$(rc "$n.without")" -gt 128 -a "$(logouts "$n.without")" = 0
	check "$n: the library without the setting: no C_Logout, same status" \
		test "$(logouts "$n.off")" = 0 -a "$(rc "$n.off")" = "$(rc "$n.without")"
	check "$n: with P11LOGOUT_SIGNALS: one C_Logout reaches the module" \
		test "$(logouts "$n.with")" = 1
	same "$n: with P11LOGOUT_SIGNALS: the same status as without the library (dies of SIG$s)" \
		"$T/$n.without.rc" "$T/$n.with.rc"
	same "$n: stdout unchanged" "$T/$n.without.out" "$T/$n.with.out"
	quiet "$n.with"
done

# A signal not in the list: no release.
n=sig-unlisted
signalled "$n.with" lib TERM "driver: logged in" P11LOGOUT_SIGNALS=INT -- "$EXIT_DRIVER" wait "$ODD"
check "$n: SIGTERM with P11LOGOUT_SIGNALS=INT: no C_Logout, dies of SIGTERM (143)" \
	test "$(logouts "$n.with")" = 0 -a "$(rc "$n.with")" = 143

# Inside the module, holding its lock: the release cannot get in; the
# process still ends within the bound, from the same signal.
n=locked
signalled "$n.without" "" TERM "odd C_GetInfo: sleeping with the lock held" \
	ODD_MODE=info-hang-locked -- "$EXIT_DRIVER" locked "$ODD"
signalled "$n.with" lib TERM "odd C_GetInfo: sleeping with the lock held" \
	ODD_MODE=info-hang-locked P11LOGOUT_SIGNALS=TERM P11LOGOUT_TIMEOUT=1 -- \
	"$EXIT_DRIVER" locked "$ODD"
same "$n: dies of SIGTERM as without the library" "$T/$n.without.rc" "$T/$n.with.rc"
within "$n: ended within the bound (1 s) + 0.8 s of the signal" "$n.with" 1800
check "$n: no C_Logout got through the module's lock" test "$(logouts "$n.with")" = 0
quiet "$n.with"

# A second signal during the release ends the process at once.
n=second
signalled "$n.with" lib TERM,-,TERM "odd C_GetInfo: sleeping with the lock held" \
	ODD_MODE=info-hang-locked P11LOGOUT_SIGNALS=TERM P11LOGOUT_TIMEOUT=5 -- \
	"$EXIT_DRIVER" locked "$ODD"
check "$n: dies of SIGTERM (143)" test "$(rc "$n.with")" = 143
if [ -n "${TSAN_OPTIONS:-}" ]; then
	# ThreadSanitizer queues a signal that arrives while the thread runs
	# a handler until the handler returns, which this one never does.
	ok "# SKIP $n: under ThreadSanitizer no signal reaches a thread inside its handler"
else
	within "$n: the second SIGTERM, 0.3 s after the first, ended it long before the 5 s bound" \
		"$n.with" 2000
fi

# The program's own SIGTERM handler is untouched.
n=own
signalled "$n.without" "" TERM "driver: logged in" -- "$EXIT_DRIVER" own "$ODD"
signalled "$n.with" lib TERM "driver: logged in" P11LOGOUT_SIGNALS=TERM -- "$EXIT_DRIVER" own "$ODD"
check "$n: control without the library: the program's handler ran (status 3)" \
	test "$(rc "$n.without")" = 3
same "$n: the same status with the setting" "$T/$n.without.rc" "$T/$n.with.rc"
same "$n: the same stdout (its handler's line)" "$T/$n.without.out" "$T/$n.with.out"
check "$n: the library did not release on the program's signal" test "$(logouts "$n.with")" = 0

# An ignored signal stays ignored.
n=ignored
(
	trap '' HUP
	signalled "$n.with" lib HUP,-,TERM "driver: logged in" P11LOGOUT_SIGNALS=HUP -- \
		"$EXIT_DRIVER" wait "$ODD"
)
check "$n: SIGHUP ignored by the program stays ignored: it lives on to die of SIGTERM (143)" \
	test "$(rc "$n.with")" = 143
check "$n: no release on the ignored SIGHUP" test "$(logouts "$n.with")" = 0

done_testing
