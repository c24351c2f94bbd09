#!/bin/sh
# Thousands of sessions: 3,000 opened, 2,000 of them closed in a shuffled
# order, the program exits with 1,000 open.  In mode close the library
# closes exactly those 1,000 at exit, each once, and never a session the
# program closed: the record (looked up by handle in a hash index, with
# entries moved on every removal) agrees with the module.
. "$P11L_TEST_SRCDIR/tap-lib.sh"
DRIVER=$P11L_TEST_BUILDDIR/bench-sessions
MODULE=$P11L_TEST_BUILDDIR/.libs/bench-sessions-module.so
p11l_fixture "$P11L_LIB" "$DRIVER" "$MODULE"

n=churn
both "$n" BENCH_SESSIONS_TRACK=1 + P11LOGOUT_MODE=close -- "$DRIVER" "$MODULE" churn 3000
check "$n: the program left 1000 open (both runs)" \
	sh -c "grep -qx '1000 open' '$T/$n.without.out' && grep -qx '1000 open' '$T/$n.with.out'"
check "control: without the library the module is left with the 1000 open" \
	grep -qx 'bench-sessions-module: 1000 left open, 0 closes refused' "$T/$n.without.err"
check "with the library: none left open, and no close of a session that was not open" \
	grep -qx 'bench-sessions-module: 0 left open, 0 closes refused' "$T/$n.with.err"
check "$n: both runs exit 0" test "$(rc "$n.without")$(rc "$n.with")" = 00
show "$T/$n.with.err"
done_testing
