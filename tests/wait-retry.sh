#!/bin/sh
# P11LOGOUT_WAIT against the fake module: only CKR_SESSION_COUNT is tried
# again, until the time is up, and then the module's last answer comes back
# unchanged; a wrong PIN is never tried again.  (wait-capped.sh has the
# waits that end in success, on the session-capped fixture.)
. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/settings-lib.sh"
# The waiters' lock files go here, not in the user's own runtime directory.
mkdir "$T/run" || bail_out "mkdir failed"
XDG_RUNTIME_DIR=$T/run
export XDG_RUNTIME_DIR

# --- a wrong PIN returns at once, tried once ---
run pin0 "" -- "$DRIVER" "$MOD" bad-pin
run pin lib P11LOGOUT_WAIT=30 P11LOGOUT_DEBUG=1 -- "$DRIVER" "$MOD" bad-pin
check "wrong PIN without the library: CKR_PIN_INCORRECT" \
	grep -q 'C_Login .*-> CKR_PIN_INCORRECT' "$T/pin0.log"
same "wrong PIN with P11LOGOUT_WAIT=30: stdout (CKR_PIN_INCORRECT) as without the library" \
	"$T/pin0.out" "$T/pin.out"
same "wrong PIN with the wait: the module's calls as without the library" \
	"$T/pin0.log" "$T/pin.log"
check "wrong PIN with the wait: exactly one C_Login reached the module" \
	test "$(grep -c 'C_Login ' "$T/pin.log")" = 1
check "wrong PIN with the wait: returns at once ($(ms pin) ms < 3000)" \
	test "$(ms pin)" -lt 3000
check "wrong PIN with the wait: no 'tried again' in the debug log" \
	sh -c "! grep -q 'tried again' '$T/pin.err'"

# --- a login that works is not delayed ---
run good lib P11LOGOUT_WAIT=30 -- "$DRIVER" "$MOD" one-slot
check "a good login with the wait: exactly one C_Login" \
	test "$(grep -c 'C_Login ' "$T/good.log")" = 1
check "a good login with the wait: no delay ($(ms good) ms < 3000)" test "$(ms good)" -lt 3000

# --- CKR_SESSION_COUNT from C_OpenSession: tried again until the time is
# --- up, then returned unchanged ---
run full0 "" -- "$DRIVER" "$MOD" session-full
check "no session free, without the library: the 65th C_OpenSession fails with CKR_SESSION_COUNT" \
	test "$(grep -c 'C_OpenSession .*-> CKR_SESSION_COUNT' "$T/full0.log")" = 1
check "no session free, without the library: status 0 (the program expected it)" \
	test "$(rc full0)" = 0

run fullnw lib -- "$DRIVER" "$MOD" session-full
same "no session free, library without the wait: the module's calls unchanged" \
	"$T/full0.log" "$T/fullnw.log"

for w in 1 2; do
	run "full$w" lib P11LOGOUT_WAIT=$w P11LOGOUT_DEBUG=1 -- "$DRIVER" "$MOD" session-full
	t=$(ms "full$w")
	lo=$((w * 1000)) hi=$((w * 1000 + 1500))
	same "P11LOGOUT_WAIT=$w: the program still gets CKR_SESSION_COUNT (stdout unchanged)" \
		"$T/full0.out" "$T/full$w.out"
	check "P11LOGOUT_WAIT=$w: status 0 as without the library" test "$(rc "full$w")" = 0
	tries=$(grep -c 'C_OpenSession .*-> CKR_SESSION_COUNT' "$T/full$w.log")
	check "P11LOGOUT_WAIT=$w: C_OpenSession tried again ($tries calls)" test "$tries" -ge 3
	check "P11LOGOUT_WAIT=$w: but fewer than once per 10 ms (backoff)" \
		test "$tries" -le $((w * 100))
	check "P11LOGOUT_WAIT=$w: given up after the wait ($t ms, between $lo and $hi)" \
		test "$t" -ge "$lo" -a "$t" -lt "$hi"
	n=$(sed -n 's/.*C_OpenSession: no session free; tried again \([0-9]*\) times -> CKR_SESSION_COUNT$/\1/p' "$T/full$w.err")
	check "P11LOGOUT_WAIT=$w: the debug log counts the retries ($n, calls $tries)" \
		test -n "$n" -a "$((n + 1))" = "$tries"
	grep -v 'C_OpenSession .*-> CKR_SESSION_COUNT' "$T/full$w.log" >"$T/full$w.rest"
	grep -v 'C_OpenSession .*-> CKR_SESSION_COUNT' "$T/full0.log" >"$T/full0.rest"
	same "P11LOGOUT_WAIT=$w: no other extra call" "$T/full0.rest" "$T/full$w.rest"
done

# P11LOGOUT_WAIT=0 is no wait at all.
run full-w0 lib P11LOGOUT_WAIT=0 -- "$DRIVER" "$MOD" session-full
same "P11LOGOUT_WAIT=0: no retry" "$T/full0.log" "$T/full-w0.log"

# From the file, and through p11-run --wait.
printf 'wait = 1\n' >"$T/w1.conf"
run full-file lib P11LOGOUT_CONFIG="$T/w1.conf" -- "$DRIVER" "$MOD" session-full
check "'wait = 1' in the file: C_OpenSession tried again" \
	test "$(grep -c 'C_OpenSession .*-> CKR_SESSION_COUNT' "$T/full-file.log")" -ge 3
run full-run "" -- "$P11L_RUN" --wait 1 "$DRIVER" "$MOD" session-full
check "p11-run --wait 1: C_OpenSession tried again" \
	test "$(grep -c 'C_OpenSession .*-> CKR_SESSION_COUNT' "$T/full-run.log")" -ge 3
check "p11-run --wait 1: given up after about a second ($(ms full-run) ms)" \
	test "$(ms full-run)" -ge 1000 -a "$(ms full-run)" -lt 2500

# --- the queue of the waiters of one host (a lock file per module) ---
mkdir "$T/run0"
run good0 lib P11LOGOUT_WAIT=30 XDG_RUNTIME_DIR="$T/run0" -- "$DRIVER" "$MOD" one-slot
check "nothing of the queue before a refusal: a good login (status $(rc good0)) creates no lock file" \
	sh -c "! ls '$T/run0' | grep -q ."
run q1 lib P11LOGOUT_WAIT=1 P11LOGOUT_DEBUG=1 -- "$DRIVER" "$MOD" session-full
lock=$(ls "$T/run"/p11logout-wait-"$(id -u)"-* 2>/dev/null | head -n 1)
check "a refused C_OpenSession creates the module's lock file in \$XDG_RUNTIME_DIR (${lock##*/})" \
	test -f "$lock"
check "... and the waiter queued on it" \
	grep -q 'waited [0-9]* ms for a free session (queue of this host) -> CKR_SESSION_COUNT' "$T/q1.err"
# While another waiter holds the lock, this one never asks the module
# again: one refused C_OpenSession reaches it, as without the wait.
flock "$lock" sleep 4 &
holder=$!
sleep 0.3
run q2 lib P11LOGOUT_WAIT=1 P11LOGOUT_DEBUG=1 -- "$DRIVER" "$MOD" session-full
wait "$holder"
check "another waiter at the head: C_OpenSession reached the module once" \
	test "$(grep -c 'C_OpenSession .*-> CKR_SESSION_COUNT' "$T/q2.log")" = 1
same "... the program still gets CKR_SESSION_COUNT" "$T/full0.out" "$T/q2.out"
check "... after its own wait ($(ms q2) ms, between 1000 and 2500)" \
	test "$(ms q2)" -ge 1000 -a "$(ms q2)" -lt 2500
# A lock file that is not a plain file of ours (here a link, which another
# user could plant in a shared directory) is not used: plain backoff.
mkdir "$T/run2" && : >"$T/target" && ln -s "$T/target" "$T/run2/${lock##*/}"
run q3 lib P11LOGOUT_WAIT=1 P11LOGOUT_DEBUG=1 XDG_RUNTIME_DIR="$T/run2" -- "$DRIVER" "$MOD" session-full
check "a link in place of the lock file: not followed, plain backoff" \
	grep -q 'waited [0-9]* ms for a free session (backoff) -> CKR_SESSION_COUNT' "$T/q3.err"
check "... and C_OpenSession is still tried again" \
	test "$(grep -c 'C_OpenSession .*-> CKR_SESSION_COUNT' "$T/q3.log")" -ge 3
check "... the link's target is untouched" test ! -s "$T/target"

# A child forked while a thread of its parent is at the head of the queue
# (holding the lock) must not keep the lock once the parent has ended:
# else no waiter of the host would ask the module while the child lives.
mkdir "$T/run3"
(
	p11l_hermetic
	env LD_PRELOAD="$(p11l_preload)" P11LOGOUT_WAIT=30 FAKE_HOLD_MS=20000 \
		XDG_RUNTIME_DIR="$T/run3" "$DRIVER" "$MOD" session-full-fork >"$T/fork.out" 2>"$T/fork.err"
)
child=$(sed -n 's/^child //p' "$T/fork.out")
lock3=$(ls "$T/run3"/p11logout-wait-"$(id -u)"-* 2>/dev/null | head -n 1)
check "the parent's child still runs" kill -0 "${child:-0}"
check "a fork child does not keep its parent's head lock: the lock is free" \
	flock -n "$lock3" true
[ -n "$child" ] && kill "$child" 2>/dev/null
check "control: a lock held on that file is seen" \
	sh -c "flock -w 5 '$lock3' sleep 2 & sleep 0.3; ! flock -n '$lock3' true; r=\$?; wait; exit \$r"

done_testing
