#!/bin/sh
# One release at a time, and the bound holds (issue 9.3), quick_exit()
# (9.4), the release at exit on the exiting thread with a watchdog (14.1),
# and robust-lib.sh's hermetic runs (9.5).
#
# The module's C_Logout takes 1.5 s (ODD_LOGOUT_MS), longer than the bound
# of 1 s: an explicit OPENSSL_cleanup() gives up after 1 s, and then
#  - the exit adds no time of its own, and no second C_Logout starts;
#  - the release left behind makes no further call (no C_CloseSession, no
#    next slot) once its C_Logout returns.
. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/robust-lib.sh"

EXIT_DRIVER=$P11L_TEST_BUILDDIR/exit-driver
[ -x "$EXIT_DRIVER" ] || bail_out "missing $EXIT_DRIVER: run make check"

# count FILE PATTERN: lines of FILE matching the fixed PATTERN.
count() { grep -c -x -F -- "$2" "$1"; }
# after TAG MARK: the log lines after the line "driver: MARK".
after() { sed "1,/^driver: $2\$/d" "$T/$1.log"; }

# --- OPENSSL_cleanup() gives up, then exit() at once ---
n=cleanup-exit
run "$n.without" "" ODD_LOGOUT_MS=1500 ROBUST_EXIT=42 -- \
	"$EXIT_DRIVER" cleanup "$ODD" 1 0
check "$n: control without the library: status 42, no C_Logout" \
	test "$(rc "$n.without")" = 42 -a "$(count "$T/$n.without.log" 'odd C_Logout: slow 1500 ms')" = 0
run "$n.with" lib ODD_LOGOUT_MS=1500 ROBUST_EXIT=42 P11LOGOUT_TIMEOUT=1 -- \
	"$EXIT_DRIVER" cleanup "$ODD" 1 0
output_unchanged "$n"
check "$n: OPENSSL_cleanup() did start the release (one C_Logout entered)" \
	test "$(count "$T/$n.with.log" 'odd C_Logout: slow 1500 ms')" -ge 1
check "$n: no second, concurrent C_Logout from the exit (one entered, not two)" \
	test "$(count "$T/$n.with.log" 'odd C_Logout: slow 1500 ms')" = 1
# The time added, against the same run with a C_Logout that answers at
# once (so that valgrind's own start-up time cancels out).
run "$n.fast" lib ROBUST_EXIT=42 P11LOGOUT_TIMEOUT=1 -- "$EXIT_DRIVER" cleanup "$ODD" 1 0
added=$(($(ms "$n.with") - $(ms "$n.fast")))
margin=$((800 + ROBUST_SLACK_MS / 4))
check "$n: OPENSSL_cleanup() and exit together add at most the bound (1 s) + $margin ms (added $added ms)" \
	test "$added" -lt $((1000 + margin))
quiet "$n.with"

# --- two slots; the abandoned release returns while the program runs on ---
n=cleanup-late
both "$n" ODD_LOGOUT_MS=1500 ROBUST_EXIT=42 + P11LOGOUT_TIMEOUT=1 -- \
	"$EXIT_DRIVER" cleanup "$ODD" 2 2500
output_unchanged "$n"
check "$n: the release started on slot 1 before the give-up" \
	grep -qx 'odd C_Logout: slow 1500 ms' "$T/$n.with.prog"
# After the give-up, only the C_Logout in flight returns; nothing else
# reaches the module, at once, later, or at exit.
after "$n.with" "cleanup returned" >"$T/$n.after"
expect "$n: after the give-up no module call but the return of the one in flight" \
	"$T/$n.after" <<EOF2
odd C_Logout(slot 1) -> CKR_OK
driver exit
EOF2
check "$n: count of module calls started after the give-up: 0" \
	test "$(grep -c -v -x -e 'odd C_Logout(slot 1) -> CKR_OK' -e 'driver exit' "$T/$n.after")" = 0
within "$n: cleanup (1 s bound) + the 2.5 s the program waits + 0.8 s: the exit adds nothing" \
	"$n.with" 4300
quiet "$n.with"

# --- exit() alone: released on the exiting thread, the watchdog ends it ---
n=exit-stuck
both "$n" ODD_LOGOUT_MS=3000 ROBUST_EXIT=42 + P11LOGOUT_TIMEOUT=1 -- \
	"$EXIT_DRIVER" exit "$ODD" 2 0
output_unchanged "$n"
check "$n: the buffered output is there (stdout ends with 'done')" \
	test "$(tail -n 1 "$T/$n.with.out")" = done
check "$n: one C_Logout entered at exit" \
	test "$(count "$T/$n.with.exit" 'odd C_Logout: slow 3000 ms')" = 1
within "$n: ended within the bound (1 s) + 0.8 s" "$n.with" 1800
quiet "$n.with"

n=exit-fast
run "$n.with" lib ROBUST_EXIT=42 -- "$EXIT_DRIVER" exit "$ODD" 2 0
expect "$n: at exit both slots are released, on the exiting thread, in order" \
	"$T/$n.with.exit" <<EOF2
odd C_Logout(slot 1) -> CKR_OK
odd C_CloseSession(slot 1) -> CKR_OK
odd C_Logout(slot 2) -> CKR_OK
odd C_CloseSession(slot 2) -> CKR_OK
EOF2
check "$n: status 42" test "$(rc "$n.with")" = 42

# --- quick_exit() ---
n=quick
both "$n" ROBUST_EXIT=42 -- "$EXIT_DRIVER" quick "$ODD"
output_unchanged "$n"
check "$n: control without the library: no C_Logout" \
	test ! -s "$T/$n.without.exit"
expect "$n: with the library the login is released at quick_exit()" \
	"$T/$n.with.exit" <<EOF2
odd C_Logout(slot 1) -> CKR_OK
odd C_CloseSession(slot 1) -> CKR_OK
EOF2
quiet "$n.with"

# --- hermetic runs: the caller's P11LOGOUT_* never reach the program ---
n=hermetic
P11LOGOUT_MODE=finalize P11LOGOUT_DEBUG=1 P11LOGOUT_CONFIG=/nonexistent/p11l.conf
export P11LOGOUT_MODE P11LOGOUT_DEBUG P11LOGOUT_CONFIG
run "$n.with" lib -- "$EXIT_DRIVER" exit "$ODD" 1 0
unset P11LOGOUT_MODE P11LOGOUT_DEBUG P11LOGOUT_CONFIG
check "$n: P11LOGOUT_MODE=finalize in the caller's environment: no C_Finalize" \
	sh -c "! grep -q C_Finalize '$T/$n.with.exit'"
quiet "$n.with"

done_testing
