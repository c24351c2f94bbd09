# Shared helpers for the shell tests: TAP output and the locations of the
# components under test.  Sourced, never run.

P11L_TAP_N=0
P11L_TAP_FAILED=0

plan() { echo "1..$1"; }
ok() { P11L_TAP_N=$((P11L_TAP_N + 1)); echo "ok $P11L_TAP_N - $*"; }
not_ok() { P11L_TAP_N=$((P11L_TAP_N + 1)); P11L_TAP_FAILED=1; echo "not ok $P11L_TAP_N - $*"; }
diag() { echo "# $*"; }
skip_all() { echo "1..0 # SKIP $*"; exit 0; }
bail_out() { echo "Bail out! $*"; exit 1; }
# check DESCRIPTION COMMAND...: one TAP line from a command's exit status.
check() { d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }
done_testing() { echo "1..$P11L_TAP_N"; exit $P11L_TAP_FAILED; }

# Paths of the library and the test build; set by tests/Makefile.am.
: "${P11L_LIB:?P11L_LIB must name the built libp11logout.so}"
: "${P11L_TEST_BUILDDIR:?}"
: "${P11L_TEST_SRCDIR:?}"

p11l_multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
P11L_SOFTHSM=${P11L_SOFTHSM:-/usr/lib/softhsm/libsofthsm2.so}
P11L_SPY=${P11L_SPY:-/usr/lib/$p11l_multiarch/pkcs11/pkcs11-spy.so}
P11L_P11KIT_PROXY=${P11L_P11KIT_PROXY:-/usr/lib/$p11l_multiarch/p11-kit-proxy.so}
P11L_ENGINE=${P11L_ENGINE:-/usr/lib/$p11l_multiarch/engines-3/pkcs11.so}
# pkcs11-provider (OpenSSL 3 provider).
P11L_PROVIDER=${P11L_PROVIDER:-/usr/lib/$p11l_multiarch/ossl-modules/pkcs11.so}

# p11l_engine_missing: prints why "openssl ... -engine pkcs11" cannot run
# here and succeeds, or fails (silently) where it can.  openssl itself is
# asked whether it takes -engine: OpenSSL 4.0 has no engines, while the
# OpenSSL 3 build of libp11 may still have left engines-3/pkcs11.so on
# disk.
p11l_engine_missing() {
	command -v openssl >/dev/null 2>&1 || { echo "openssl not installed"; return 0; }
	if ! openssl dgst -help 2>&1 | grep -q -e '^ *-engine '; then
		echo "$(openssl version | cut -d' ' -f1-2) takes no -engine (no engines from OpenSSL 4.0 on)"
		return 0
	fi
	[ -r "$P11L_ENGINE" ] || {
		echo "libp11 openssl engine not found at $P11L_ENGINE (libengine-pkcs11-openssl)"
		return 0
	}
	return 1
}

# A private temporary directory, removed when the test exits.
p11l_tmpdir() {
	P11L_TMP=$(mktemp -d "${TMPDIR:-/tmp}/p11l-test.XXXXXX") || bail_out "mktemp failed"
	trap 'rm -rf "$P11L_TMP"' EXIT
	# The configuration file of hermetic runs (see run).
	: >"$P11L_TMP/empty.conf"
}

# p11l_fixture FILE...: the preamble of a test of the built programs: fails
# (make check builds them) unless every FILE exists; needs timeout(1), which
# run uses; then makes P11L_TMP, also named T.
p11l_fixture() {
	for p11l_f in "$@"; do
		[ -e "$p11l_f" ] || bail_out "missing $p11l_f: run make check"
	done
	command -v timeout >/dev/null 2>&1 || skip_all "timeout(1) is needed"
	p11l_tmpdir
	T=$P11L_TMP
}

# p11l_hermetic: for a test that starts its programs itself rather than
# through run: the same clean environment for the rest of the script (no
# P11LOGOUT_*, FAKE_* or ODD_* setting of the caller's, P11LOGOUT_CONFIG
# naming an empty file).  After p11l_tmpdir.
p11l_hermetic() {
	for v in $(env | sed -n 's/^\(\(P11LOGOUT\|FAKE\|ODD\)_[A-Za-z0-9_]*\)=.*/\1/p'); do
		unset "$v"
	done
	P11LOGOUT_CONFIG=$P11L_TMP/empty.conf
	export P11LOGOUT_CONFIG
}

# The LD_PRELOAD value that loads the library: P11L_PRELOAD_PREFIX (set by
# the sanitizer CI: the ASan runtime, which must come first) then the
# library.
p11l_preload() {
	echo "${P11L_PRELOAD_PREFIX:+$P11L_PRELOAD_PREFIX }$P11L_LIB"
}
# The LD_PRELOAD value of a run without the preloaded library that still
# loads it as a module (libp11logout-module.so): empty, or under the
# sanitizer CI the runtime that must come first.
p11l_preload_none() {
	echo "${P11L_PRELOAD_PREFIX:-}"
}
# Under the sanitizer CI's ASan step (P11L_PRELOAD_PREFIX set), a setting
# for env that turns LeakSanitizer off; empty otherwise.  For programs that
# unload their PKCS#11 module before they exit (pkcs11-tool, PyKCS11):
# LeakSanitizer names an unloaded object "<unknown module>", so the
# module's own leaks (pkcs11-spy's) cannot be suppressed by name; for
# programs run under strace: LeakSanitizer does not work under ptrace; and
# for runs without libp11logout.  ASan still checks every memory access,
# and the valgrind step (P11L_VG, --keep-debuginfo) checks the leaks of
# the pkcs11-tool and PyKCS11 runs.
P11L_ASAN_NOLEAKS=
if [ -n "${P11L_PRELOAD_PREFIX:-}" ]; then
	P11L_ASAN_NOLEAKS="ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0"
fi
# P11L_BARE: the prefix of a run without libp11logout of a program that is
# not built with ASan (openssl, pkcs11-tool) but loads a test module that
# is, in the ASan step: env, the ASan runtime in LD_PRELOAD, and
# P11L_ASAN_NOLEAKS.  Empty otherwise.
P11L_BARE=
if [ -n "${P11L_PRELOAD_PREFIX:-}" ]; then
	P11L_BARE="env LD_PRELOAD=$P11L_PRELOAD_PREFIX $P11L_ASAN_NOLEAKS"
fi

# P11L_VALGRIND=1 (the valgrind step of the sanitizer CI): P11L_VG is the
# valgrind memcheck command line that the tests put right before each
# program they run with the library preloaded, after "env LD_PRELOAD=...":
#     env LD_PRELOAD="$(p11l_preload)" $P11L_VG openssl ...
# (unquoted; empty otherwise).  Any memory error, or a block definitely
# lost, makes the program exit with status 99, which every such test
# checks.  tests/valgrind.supp suppresses only what other programs and
# libraries (pkcs11-spy, p11-kit...) do, never a block that libp11logout
# allocates.  --keep-debuginfo: a module unloaded before the exit is still
# named in a leak report, so that its suppression applies.
if [ "${P11L_VALGRIND:-0}" = 1 ]; then
	command -v valgrind >/dev/null 2>&1 || bail_out "P11L_VALGRIND=1 but valgrind is not installed"
	P11L_VG="valgrind -q --keep-debuginfo=yes --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite --suppressions=$P11L_TEST_SRCDIR/valgrind.supp"
else
	P11L_VG=
fi

# P11L_EMULATED (set by .ci/cross.sh): the test programs are another
# architecture's, run by qemu-user through binfmt_misc (QEMU_LD_PREFIX
# names their libc), so a test can leave out what only the build
# machine's tools can check (valgrind).  Its value names the emulator.

# ---------------------------------------------------------------------------
# The run harness: one way to run a program under test, and the checks on
# what it left.  A test that uses run sets T (usually T=$P11L_TMP).
#
#   run TAG PRELOAD [VAR=VALUE | -u NAME | KILL_AFTER=SECONDS]... -- COMMAND...
#       Runs COMMAND, killed after KILL_AFTER seconds (default 60), with
#       LD_PRELOAD=PRELOAD: "" for none, "lib" for the library (through
#       p11l_preload, so a sanitizer runtime comes first), anything else
#       as given.  Hermetic: every P11LOGOUT_*, FAKE_* and ODD_* setting
#       of the caller's is removed; P11LOGOUT_CONFIG names an empty file
#       (so a file installed in sysconfdir cannot change the result);
#       FAKE_PIN=$PIN; the test modules log to $T/TAG.log (FAKE_LOG,
#       ODD_LOG); then VAR=VALUE... (a value may hold spaces), and -u NAME
#       removes NAME instead.  P11L_RUN_UNDER (unquoted; robust-lib.sh
#       sets it to the valgrind command line) goes right before a
#       preloaded COMMAND.  Leaves in $T: TAG.log, TAG.prog and TAG.exit
#       (the log up to and including the drivers' "driver exit" line, and
#       after it: the calls made at exit), TAG.out, TAG.err, TAG.rc and
#       TAG.ms (elapsed).
#   both NAME [VAR=VALUE...] [+ VAR=VALUE...] -- COMMAND...: the control
#       run and the run under test, NAME.without (no library) and
#       NAME.with (the library); settings after "+" are the run with the
#       library's only.
#   run_bg TAG PRELOAD [...] -- COMMAND...: the same, in the background,
#       with SIGINT and SIGQUIT at their defaults; sets p11l_pid.  The
#       caller waits for it and records TAG.rc itself.
# The checks, each one TAP line (a diff or the file as comments when not):
#   same DESC FILE1 FILE2     the two files are identical
#   expect DESC FILE          FILE is exactly the text on stdin
#   expect_lines DESC FILE    FILE holds exactly the lines on stdin, in
#                             any order
#   show FILE...              each FILE as TAP comments (40 lines at most)
#   rc TAG / ms TAG           exit status / elapsed milliseconds of a run
PIN=s3cr3t-PIN-4711
P11L_RUN_UNDER=

# p11l_quote WORD: WORD quoted for eval.
p11l_quote() {
	printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# p11l_command TAG PRELOAD [...] -- COMMAND...: sets p11l_cmd, the command
# line of run (without its timeout) for eval, and p11l_kill.
p11l_command() {
	tag=$1 pre=$2
	shift 2
	vars= unsets= p11l_kill=60
	p11l_log=$(p11l_quote "$T/$tag.log")
	# The defaults, each left out by a -u of its name.
	cfg="P11LOGOUT_CONFIG=$(p11l_quote "$T/empty.conf")"
	defaults=" FAKE_PIN=$(p11l_quote "$PIN") FAKE_LOG=$p11l_log ODD_LOG=$p11l_log"
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		case $1 in
		-u)
			unsets="$unsets -u $2"
			case $2 in
			P11LOGOUT_CONFIG) cfg= ;;
			FAKE_PIN | FAKE_LOG | ODD_LOG)
				defaults=$(printf '%s\n' "$defaults" | sed "s/ $2=[^ ]*//") ;;
			esac
			shift
			;;
		KILL_AFTER=*) p11l_kill=${1#KILL_AFTER=} ;;
		*) vars="$vars $(p11l_quote "$1")" ;;
		esac
		shift
	done
	[ $# -gt 0 ] && shift
	[ "$pre" = lib ] && pre=$(p11l_preload)
	cmd=
	for a in "$@"; do cmd="$cmd $(p11l_quote "$a")"; done
	# A second env, so that LD_PRELOAD reaches COMMAND, not timeout.
	[ -n "$pre" ] && cmd="env LD_PRELOAD=$(p11l_quote "$pre") $P11L_RUN_UNDER$cmd"
	p11l_strays=$(env | sed -n 's/^\(\(P11LOGOUT\|FAKE\|ODD\)_[A-Za-z0-9_]*\)=.*/-u \1/p' | tr '\n' ' ')
	: >"$T/$tag.log"
	p11l_cmd="env -u LD_PRELOAD -u ROBUST_EXIT $p11l_strays$unsets$defaults $cfg$vars"
	p11l_cmd_tail=$cmd
}

run() {
	p11l_command "$@"
	p11l_t0=$(now_ms)
	eval "$p11l_cmd timeout $p11l_kill $p11l_cmd_tail" \
		>"$T/$tag.out" 2>"$T/$tag.err" </dev/null
	echo $? >"$T/$tag.rc"
	echo $(($(now_ms) - p11l_t0)) >"$T/$tag.ms"
	sed '/^driver exit$/q' "$T/$tag.log" >"$T/$tag.prog"
	sed '1,/^driver exit$/d' "$T/$tag.log" >"$T/$tag.exit"
}

both() {
	p11l_name=$1
	shift
	p11l_both= p11l_with= p11l_in=both
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		if [ "$1" = + ]; then
			p11l_in=with
		elif [ $p11l_in = both ]; then
			p11l_both="$p11l_both $(p11l_quote "$1")"
		else
			p11l_with="$p11l_with $(p11l_quote "$1")"
		fi
		shift
	done
	p11l_cmd_words=
	for a in "$@"; do p11l_cmd_words="$p11l_cmd_words $(p11l_quote "$a")"; done
	eval "run \"\$p11l_name.without\" ''$p11l_both$p11l_cmd_words"
	eval "run \"\$p11l_name.with\" lib$p11l_both$p11l_with$p11l_cmd_words"
}

run_bg() {
	p11l_command "$@"
	# A background job starts with SIGINT and SIGQUIT ignored: restored.
	eval "exec env --default-signal=INT,QUIT ${p11l_cmd#env } $p11l_cmd_tail" \
		>"$T/$tag.out" 2>"$T/$tag.err" </dev/null &
	p11l_pid=$!
}

rc() { cat "$T/$1.rc"; }
ms() { cat "$T/$1.ms"; }

show() {
	for f in "$@"; do
		[ -f "$f" ] || continue
		diag "--- ${f##*/}:"
		head -40 "$f" | sed 's/^/#   /'
	done
}

same() {
	if cmp -s "$2" "$3"; then
		ok "$1"
	else
		not_ok "$1"
		diff -u "$2" "$3" | head -40 | sed 's/^/#   /'
	fi
}

expect() {
	cat >"$T/expected"
	same "$1" "$T/expected" "$2"
}

# expect_inserted DESCRIPTION BASE LINE GOT: GOT is BASE with the lines on
# stdin, and nothing else, right before BASE's first line LINE (the calls a
# program makes, with the logout the library adds before its C_Finalize).
expect_inserted() {
	cat >"$T/inserted"
	awk -v f="$T/inserted" -v at="$3" '!done && $0 == at {
		while ((getline l < f) > 0) print l; done = 1 } { print }' \
		"$2" >"$T/expected"
	same "$1" "$T/expected" "$4"
}

expect_lines() {
	sort >"$T/expected"
	sort "$2" >"$T/got"
	same "$1" "$T/expected" "$T/got"
}
