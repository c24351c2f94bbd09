# Helpers of the settings tests (wait, modules, modes, configuration file,
# syslog, wrapper module, p11-run options).  Sourced after tap-lib.sh,
# never run.
#
#   srun TAG PRELOAD [VAR=VALUE...] -- COMMAND...
#       Runs COMMAND with LD_PRELOAD=PRELOAD ("" for none, "lib" for the
#       library), in an environment free of every P11LOGOUT_* and FAKE_*
#       setting, with FAKE_PIN set, FAKE_LOG=$T/TAG.log and
#       P11LOGOUT_CONFIG=$T/empty.conf (so that a file installed in
#       sysconfdir cannot change the result), then VAR=VALUE... (a value
#       may hold spaces; "-u NAME" unsets NAME instead).  Leaves in $T:
#       TAG.log, TAG.prog and TAG.exit (the log up to and including
#       "driver exit", and after it), TAG.out, TAG.err, TAG.rc, TAG.ms.
#   same DESC FILE1 FILE2     one TAP line; a diff when they differ
#   expect DESC FILE          FILE is exactly the text on stdin
#   show FILE                 FILE as TAP comments
#   rc TAG / ms TAG           exit status / elapsed milliseconds of a run
#   banner FILE               the settings line of the library's debug
#                             banner in FILE, without the "libp11logout: "
#                             prefix

DRIVER=$P11L_TEST_BUILDDIR/fake-driver
MOD=$P11L_TEST_BUILDDIR/.libs/fake-module.so
MOD2=$P11L_TEST_BUILDDIR/.libs/fake-module2.so
WRAPPER=$(dirname "$P11L_LIB")/libp11logout-module.so
PIN=s3cr3t-PIN-4711

for f in "$P11L_LIB" "$MOD" "$MOD2" "$DRIVER"; do
	[ -f "$f" ] || bail_out "missing $f: run make check"
done
command -v timeout >/dev/null 2>&1 || skip_all "timeout(1) is needed"
p11l_tmpdir
T=$P11L_TMP
: >"$T/empty.conf"
VERSION=$(sed -n "s/^P11L_VERSION='\(.*\)'$/\1/p" "$P11L_RUN")
[ -n "$VERSION" ] || bail_out "no version in $P11L_RUN"

now_ms() { echo $(($(date +%s%N) / 1000000)); }

settings_quote() {
	printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

srun() {
	tag=$1 pre=$2
	shift 2
	if [ "$pre" = lib ]; then
		# p11l_preload (tap-lib.sh, when present) puts a sanitizer
		# runtime first.
		if command -v p11l_preload >/dev/null 2>&1; then
			pre=$(p11l_preload)
		else
			pre=$P11L_LIB
		fi
	fi
	vars= unsets= cfg="P11LOGOUT_CONFIG=$(settings_quote "$T/empty.conf")"
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		if [ "$1" = -u ]; then
			unsets="$unsets -u $2"
			[ "$2" = P11LOGOUT_CONFIG ] && cfg=
			shift
		else
			vars="$vars $(settings_quote "$1")"
		fi
		shift
	done
	[ $# -gt 0 ] && shift
	cmd=
	for a in "$@"; do cmd="$cmd $(settings_quote "$a")"; done
	: >"$T/$tag.log"
	# A second env, so that LD_PRELOAD reaches the command, not timeout.
	pre_env=
	[ -n "$pre" ] && pre_env="env LD_PRELOAD=$(settings_quote "$pre")"
	t0=$(now_ms)
	eval "env -u LD_PRELOAD -u P11LOGOUT_DEBUG -u P11LOGOUT_TIMEOUT \
		-u P11LOGOUT_WAIT -u P11LOGOUT_MODE -u P11LOGOUT_LOG \
		-u P11LOGOUT_MODULES -u P11LOGOUT_MODULE -u P11LOGOUT_CONFIG \
		-u FAKE_SLOTS -u FAKE_PRELOGIN -u FAKE_GETTER_FAIL \
		-u FAKE_GETTER_NULL -u FAKE_LOGOUT_FAIL -u FAKE_DRIVER_EXIT \
		$unsets FAKE_PIN=$PIN FAKE_LOG=$(settings_quote "$T/$tag.log") \
		$cfg $vars \
		timeout 60 $pre_env $cmd" >"$T/$tag.out" 2>"$T/$tag.err" </dev/null
	echo $? >"$T/$tag.rc"
	echo $(($(now_ms) - t0)) >"$T/$tag.ms"
	sed '/^driver exit$/q' "$T/$tag.log" >"$T/$tag.prog"
	sed '1,/^driver exit$/d' "$T/$tag.log" >"$T/$tag.exit"
}

rc() { cat "$T/$1.rc"; }
ms() { cat "$T/$1.ms"; }

show() {
	while IFS= read -r line; do diag "  $line"; done <"$1"
}

same() {
	if cmp -s "$2" "$3"; then
		ok "$1"
	else
		not_ok "$1"
		diff -u "$2" "$3" | while IFS= read -r line; do diag "$line"; done
	fi
}

expect() {
	d=$1 f=$2
	cat >"$T/expected"
	same "$d" "$T/expected" "$f"
}

banner() {
	sed -n 's/^libp11logout: \(libp11logout [^ ]*: debug=.*\)$/\1/p' "$1"
}

# settings_line DEBUG TIMEOUT WAIT MODE LOG MODULES MODULE [SIGNALS]: the
# banner's settings line for these values (SIGNALS: "-" when not given).
settings_line() {
	printf 'libp11logout %s: debug=%s timeout=%s wait=%s mode=%s log=%s modules=%s module=%s signals=%s\n' \
		"$VERSION" "$1" "$2" "$3" "$4" "$5" "$6" "$7" "${8:--}"
}
