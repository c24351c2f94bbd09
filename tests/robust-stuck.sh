#!/bin/sh
# A token whose C_Logout never returns must not hold the process at exit:
# the exit handler waits P11LOGOUT_TIMEOUT seconds (default 5) at most, and
# the exit status stays the program's.
. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/robust-lib.sh"

run stuck.without "" ODD_MODE=logout-hang ROBUST_EXIT=42 -- \
	"$ROBUST_DRIVER" login "$ODD"
check "without the library: status 42, no call at exit" \
	test "$(rc stuck.without)" = 42 -a ! -s "$T/stuck.without.exit"

for b in 2 1; do
	n=stuck-$b
	run "$n.with" lib ODD_MODE=logout-hang ROBUST_EXIT=42 \
		P11LOGOUT_TIMEOUT=$b -- "$ROBUST_DRIVER" login "$ODD"
	check "$n: the program's own exit status (42)" test "$(rc "$n.with")" = 42
	within "$n: P11LOGOUT_TIMEOUT=$b: ended within $((b + 1)) s" "$n.with" $((b * 1000 + 1000))
	check "$n: it did wait: at least $b s" test "$(ms "$n.with")" -ge $((b * 1000))
	check "$n: the exit handler was inside the stuck C_Logout" \
		grep -qx 'odd C_Logout(slot 1): hanging' "$T/$n.with.exit"
	same "$n: stdout unchanged" "$T/stuck.without.out" "$T/$n.with.out"
	quiet "$n.with"
done

n=stuck-default
run "$n.with" lib ODD_MODE=logout-hang ROBUST_EXIT=42 -- "$ROBUST_DRIVER" login "$ODD"
check "$n: the program's own exit status (42)" test "$(rc "$n.with")" = 42
within "$n: default bound: ended within 6 s" "$n.with" 6000
check "$n: default bound: waited 5 s" test "$(ms "$n.with")" -ge 5000
quiet "$n.with"

# The control: no bound (0) and the process never ends.
n=stuck-unbounded
run "$n.with" lib ODD_MODE=logout-hang ROBUST_EXIT=42 P11LOGOUT_TIMEOUT=0 \
	KILL_AFTER=3 -- "$ROBUST_DRIVER" login "$ODD"
check "control: P11LOGOUT_TIMEOUT=0 waits for ever (killed by timeout: 124)" \
	test "$(rc "$n.with")" = 124

done_testing
