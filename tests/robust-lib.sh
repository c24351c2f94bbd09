# Helpers of the robust-*.sh tests; sourced after tap-lib.sh, never run.
#
# P11L_VALGRIND=1 runs every process that has the library preloaded under
# valgrind memcheck (any error, or a definite leak, gives status 99); time
# bounds then get a few seconds of slack.  P11L_PRELOAD_PREFIX (for
# sanitizer builds: the ASan runtime) is put before the library in
# LD_PRELOAD, through p11l_preload.

ROBUST_DRIVER=$P11L_TEST_BUILDDIR/robust-driver
ODD=$P11L_TEST_BUILDDIR/.libs/odd-module.so
ODD2=$P11L_TEST_BUILDDIR/.libs/odd-module2.so
ODDC=$P11L_TEST_BUILDDIR/.libs/odd-crypto-module.so

for f in "$P11L_LIB" "$ODD" "$ODD2" "$ROBUST_DRIVER"; do
	[ -f "$f" ] || bail_out "missing $f: run make check"
done
command -v timeout >/dev/null 2>&1 || skip_all "timeout(1) is needed"
p11l_tmpdir
T=$P11L_TMP

# The valgrind command line (P11L_VG) comes from tap-lib.sh.
# P11L_TIME_SLACK_MS: slack for a sanitizer build whose runtime adds time
# of its own (ThreadSanitizer sleeps 1 s before a process exits).
ROBUST_VG=$P11L_VG
if [ -n "$ROBUST_VG" ]; then
	ROBUST_SLACK_MS=4000
else
	ROBUST_SLACK_MS=${P11L_TIME_SLACK_MS:-0}
fi

# The LD_PRELOAD value that loads the library (and what must come first).
robust_preload() {
	if command -v p11l_preload >/dev/null 2>&1; then
		p11l_preload
	else
		echo "$P11L_LIB"
	fi
}

robust_quote() {
	printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

# rrun TAG PRELOAD [VAR=VALUE...] -- COMMAND...
# Runs COMMAND with LD_PRELOAD=PRELOAD ("" for none; "lib" for the
# library), in an environment free of stray settings plus VAR=VALUE...,
# killed after ROBUST_KILL=SECONDS (default 60; not passed on).  Leaves in $T: TAG.log
# (module calls and driver marks), TAG.prog and TAG.exit (the log up to
# "driver: exit", and after it), TAG.out, TAG.err, TAG.rc, TAG.ms (elapsed).
rrun() {
	tag=$1 pre=$2
	shift 2
	vars= kill=60
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		case $1 in
		ROBUST_KILL=*) kill=${1#ROBUST_KILL=} ;;
		*) vars="$vars $(robust_quote "$1")" ;;
		esac
		shift
	done
	[ $# -gt 0 ] && shift
	[ "$pre" = lib ] && pre=$(robust_preload)
	if [ -n "$pre" ]; then
		# shellcheck disable=SC2086
		set -- env LD_PRELOAD="$pre" $ROBUST_VG "$@"
	fi
	: >"$T/$tag.log"
	# Hermetic: no P11LOGOUT_* of the caller's, and an empty file for
	# the configuration (a VAR=VALUE given here still wins).
	: >"$T/empty.conf"
	unsets=$(env | sed -n 's/^\(P11LOGOUT_[A-Za-z0-9_]*\)=.*/-u \1/p' | tr '\n' ' ')
	t0=$(date +%s%N)
	eval "env -u LD_PRELOAD $unsets \
		-u ODD_MODE -u ODD_SLOTS -u ODD_DUMP_AT_UNLOAD -u ROBUST_EXIT \
		-u ODD_LOGOUT_MS P11LOGOUT_CONFIG=\"\$T/empty.conf\" \
		ODD_LOG=\"\$T/\$tag.log\" $vars timeout $kill \"\$@\"" \
		>"$T/$tag.out" 2>"$T/$tag.err" </dev/null
	echo $? >"$T/$tag.rc"
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000)) >"$T/$tag.ms"
	sed '/^driver: exit$/q' "$T/$tag.log" >"$T/$tag.prog"
	sed '1,/^driver: exit$/d' "$T/$tag.log" >"$T/$tag.exit"
}

rc() { cat "$T/$1.rc"; }
ms() { cat "$T/$1.ms"; }

show() {
	for f in "$@"; do
		[ -f "$f" ] || continue
		diag "--- ${f##*/}:"
		sed 's/^/#   /' "$f" | head -40
	done
}

# same DESC FILE1 FILE2
same() {
	if cmp -s "$2" "$3"; then
		ok "$1"
	else
		not_ok "$1"
		diff -u "$2" "$3" | sed 's/^/#   /' | head -40
	fi
}

# expect DESC FILE <<EOF ... EOF: FILE is exactly the text given.
expect() {
	cat >"$T/expected"
	if cmp -s "$T/expected" "$2"; then
		ok "$1"
	else
		not_ok "$1"
		diff -u "$T/expected" "$2" | sed 's/^/#   /' | head -40
	fi
}

# unchanged NAME: NAME.without and NAME.with exit alike and print alike,
# and neither died of a signal.
unchanged() {
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
