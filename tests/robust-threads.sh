#!/bin/sh
# Threads: 8 threads make thousands of open/close/login/logout/sign calls
# on a module with real state; afterwards the library's view must be the
# module's: exactly the slots still logged in are logged out at exit, once
# each, on their own sessions, and nothing else is called.  Then exit()
# from a thread while others are inside the module.
. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/robust-lib.sh"

NTHREADS=8
OPS=${P11L_THREAD_OPS:-4000}
[ "${P11L_VALGRIND:-0}" = 1 ] && OPS=${P11L_THREAD_OPS:-300}

# verify NAME: the calls at exit match the module's state at "state end".
verify() {
	n=$1
	state=$(sed -n 's/^odd state end: //p' "$T/$n.with.log")
	in=$(echo "$state" | sed 's/^logged in: *\([^;]*\);.*/\1/')
	sess=$(echo "$state" | sed 's/.*sessions: *//')
	diag "$n: at the end: logged in: $in; sessions per slot: $sess"
	check "$n: the threads left some slot logged in" test "$in" != none

	# What the exit handler must call, slot by slot: C_Logout on an open
	# session (or a temporary one), then close that slot's sessions.
	: >"$T/$n.want"
	for s in $in; do
		k=$(echo " $sess " | sed -n "s/.* $s:\([0-9]*\) .*/\1/p")
		if [ -z "$k" ]; then
			echo "odd C_OpenSession(slot $s) -> CKR_OK" >>"$T/$n.want"
			k=1
		fi
		echo "odd C_Logout(slot $s) -> CKR_OK" >>"$T/$n.want"
		i=0
		while [ "$i" -lt "$k" ]; do
			echo "odd C_CloseSession(slot $s) -> CKR_OK" >>"$T/$n.want"
			i=$((i + 1))
		done
	done
	sort "$T/$n.want" >"$T/$n.want.sorted"
	grep -v '^odd state unload' "$T/$n.with.exit" | sort >"$T/$n.got.sorted"
	same "$n: the exit calls are exactly: logout of each slot left logged in, and its sessions closed" \
		"$T/$n.want.sorted" "$T/$n.got.sorted"
	check "$n: the token is logged out everywhere when the module unloads" \
		grep -qx 'odd state unload: logged in: none; sessions: .*' "$T/$n.with.exit"
	check "$n: without the library, the same slots stay logged in (what the check guards)" \
		grep -q '^odd state unload: logged in: [0-9]' "$T/$n.without.exit"
	output_unchanged "$n"
	quiet "$n.with"
}

for how in own shared; do
	n=threads-$how
	for w in without with; do
		[ $w = with ] && pre=lib || pre=
		run "$n.$w" "$pre" ODD_SLOTS=16 ODD_DUMP_AT_UNLOAD=1 -- \
			"$ROBUST_DRIVER" threads "$ODD" "$NTHREADS" "$OPS" "$how"
	done
	verify "$n"
done

# The same with P11LOGOUT_MAX_SESSIONS=3, fewer places than the slots the
# threads log in to: every login takes a place or is refused by the
# library without reaching the module, every logout gives its place back,
# from 8 threads at once (lock-file.c's table of held lock files, under
# ThreadSanitizer in CI).  The module's view must still be the library's.
mkdir "$T/run" || bail_out "mkdir failed"
for how in own shared; do
	n=threads-places-$how
	for w in without with; do
		[ $w = with ] && pre=lib || pre=
		run "$n.$w" "$pre" ODD_SLOTS=16 ODD_DUMP_AT_UNLOAD=1 \
			P11LOGOUT_MAX_SESSIONS=3 XDG_RUNTIME_DIR="$T/run" -- \
			"$ROBUST_DRIVER" threads "$ODD" "$NTHREADS" "$OPS" "$how"
	done
	verify "$n"
done
# A slot is logged in at the module only with a place held: with each
# thread on a slot of its own, at most 3 at the end.  Without the limit
# the 4 threads that end logged in leave 4 or more (what the check
# guards).  (On shared slots a C_Logout that gives the slot's place back
# can race another thread's C_Login already past the place.)
ends() { sed -n 's/^odd state end: logged in: *\([^;]*\);.*/\1/p' "$T/$1.log" | wc -w; }
check "threads-places-own: at most 3 slots logged in at the end ($(ends threads-places-own.with))" \
	test "$(ends threads-places-own.with)" -le 3
check "threads-places-own: without the library, more ($(ends threads-places-own.without))" \
	test "$(ends threads-places-own.without)" -ge 4

# Two threads on one slot, one's call returning while the other changes
# the slot (made certain by the module taking 300 ms to return).  The
# library updates its record after the module answered; records carry a
# stamp, and a removal spares records added after it began, so the raced
# login or session is still released at exit.
n=race-logout
both "$n" ODD_MODE=slow-logout ODD_DUMP_AT_UNLOAD=1 -- \
	"$ROBUST_DRIVER" race "$ODD" logout
output_unchanged "$n"
check "$n: the module ends logged in (the second thread's login)" \
	grep -qx 'odd state end: logged in: 1; sessions: 1:2' "$T/$n.with.log"
check "$n: without the library it stays logged in" \
	grep -qx 'odd state unload: logged in: 1; sessions: 1:2' "$T/$n.without.log"
check "$n: C_Login while another thread's C_Logout returns: still logged out at exit" \
	grep -qx 'odd C_Logout(slot 1) -> CKR_OK' "$T/$n.with.exit"
check "$n: ... so the token is logged out when the module unloads" \
	grep -qx 'odd state unload: logged in: none; sessions: none' "$T/$n.with.log"

n=race-closeall
both "$n" ODD_MODE=slow-closeall ODD_DUMP_AT_UNLOAD=1 -- \
	"$ROBUST_DRIVER" race "$ODD" closeall
output_unchanged "$n"
check "$n: the module ends logged in with the new session open" \
	grep -qx 'odd state end: logged in: 1; sessions: 1:1' "$T/$n.with.log"
check "$n: logged out at exit" grep -qx 'odd C_Logout(slot 1) -> CKR_OK' "$T/$n.with.exit"
check "$n: a session opened while C_CloseAllSessions returns is closed at exit" \
	grep -qx 'odd state unload: logged in: none; sessions: none' "$T/$n.with.log"

# exit() from a thread while 6 others sleep inside the module.
n=exit-thread
both "$n" ODD_MODE=info-hang KILL_AFTER=20 -- \
	"$ROBUST_DRIVER" exit-thread "$ODD" 6 3
output_unchanged "$n"
check "$n: exits with the status given to exit() (3)" test "$(rc "$n.with")" = 3
within "$n: no deadlock: done within 5 s" "$n.with" 5000
expect "$n: the login is released at exit" "$T/$n.with.exit" <<EOF2
odd C_Logout(slot 1) -> CKR_OK
odd C_CloseSession(slot 1) -> CKR_OK
EOF2
quiet "$n.with"

# The sleeping threads hold the module's lock: the exit logout cannot get
# in, and the bound ends the wait.
n=exit-thread-locked
run "$n.without" "" ODD_MODE=info-hang-locked KILL_AFTER=20 -- \
	"$ROBUST_DRIVER" exit-thread "$ODD" 6 3
run "$n.with" lib ODD_MODE=info-hang-locked P11LOGOUT_TIMEOUT=2 KILL_AFTER=20 -- \
	"$ROBUST_DRIVER" exit-thread "$ODD" 6 3
output_unchanged "$n"
check "$n: exits with the status given to exit() (3)" test "$(rc "$n.with")" = 3
within "$n: no deadlock: done within the 2 s bound + 1.5 s" "$n.with" 3500
quiet "$n.with"

done_testing
