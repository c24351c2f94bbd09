# The fixture of the robust-*.sh tests (odd-module and robust-driver);
# sourced after tap-lib.sh, whose run starts every program, never run.
#
# P11L_VALGRIND=1 runs every process that has the library preloaded under
# valgrind memcheck (any error, or a definite leak, gives status 99); time
# bounds then get a few seconds of slack.

ROBUST_DRIVER=$P11L_TEST_BUILDDIR/robust-driver
ODD=$P11L_TEST_BUILDDIR/.libs/odd-module.so
ODD2=$P11L_TEST_BUILDDIR/.libs/odd-module2.so
ODDC=$P11L_TEST_BUILDDIR/.libs/odd-crypto-module.so
p11l_fixture "$P11L_LIB" "$ODD" "$ODD2" "$ROBUST_DRIVER"

# The valgrind command line (P11L_VG, from tap-lib.sh) goes before every
# program that run starts with the library preloaded.
# P11L_TIME_SLACK_MS: slack for a sanitizer build whose runtime adds time
# of its own (ThreadSanitizer sleeps 1 s before a process exits).
P11L_RUN_UNDER=$P11L_VG
if [ -n "$P11L_VG" ]; then
	ROBUST_SLACK_MS=4000
else
	ROBUST_SLACK_MS=${P11L_TIME_SLACK_MS:-0}
fi

# output_unchanged NAME: NAME.without and NAME.with exit alike and print
# alike, and the run with the library did not die of a signal (it may
# call the module differently: see program_unchanged for the stricter
# check).
output_unchanged() {
	same "$1: exit status identical with and without the library" \
		"$T/$1.without.rc" "$T/$1.with.rc"
	same "$1: stdout identical with and without the library" \
		"$T/$1.without.out" "$T/$1.with.out"
	if [ "$(rc "$1.with")" -lt 124 ]; then
		ok "$1: no crash with the library (status $(rc "$1.with"))"
	else
		not_ok "$1: no crash with the library (status $(rc "$1.with"))"
		show "$T/$1.with.err"
	fi
}

# quiet TAG: nothing on stderr (under valgrind: no error report either).
quiet() {
	if [ -s "$T/$1.err" ]; then
		not_ok "$1: nothing on stderr"
		show "$T/$1.err"
	else
		ok "$1: nothing on stderr"
	fi
}

# within DESC TAG MAX_MS: the run took less than MAX_MS (+ valgrind slack).
within() {
	m=$(ms "$2")
	if [ "$m" -lt $(($3 + ROBUST_SLACK_MS)) ]; then
		if [ "$ROBUST_SLACK_MS" -gt 0 ]; then
			ok "$1 (${m} ms, with $ROBUST_SLACK_MS ms slack)"
		else
			ok "$1 (${m} ms)"
		fi
	else
		not_ok "$1 (${m} ms, bound $(($3 + ROBUST_SLACK_MS)) ms)"
	fi
}

# todo DESC REASON COMMAND...: a check that fails today because of a known
# library bug (REASON): reported as TODO, so it does not fail the suite,
# and automake's TAP driver reports an unexpected pass (XPASS) as a
# failure, so that the TODO is removed once the bug is fixed.
todo() {
	d=$1 why=$2
	shift 2
	P11L_TAP_N=$((P11L_TAP_N + 1))
	if "$@"; then
		echo "ok $P11L_TAP_N - $d # TODO $why"
	else
		echo "not ok $P11L_TAP_N - $d # TODO $why"
	fi
}
