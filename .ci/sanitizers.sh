#!/bin/bash
# CI: the test suite under the sanitizers and valgrind; called by .ci/run
# once the source tree is unconfigured again (make distclean).  Each build
# is out of tree, in ci-build-*.
#
#  (a) clang ASan+UBSan build, the whole suite.  The library is preloaded
#      into programs that are not built with ASan, so everything links the
#      shared ASan runtime (-shared-libasan; -Wc, so that libtool passes it
#      when it links the library, which then names the runtime as NEEDED)
#      and the tests put it first in
#      LD_PRELOAD: tests/tap-lib.sh's p11l_preload prints
#      "$P11L_PRELOAD_PREFIX $P11L_LIB".  Scripts that use "$P11L_LIB"
#      alone still run (verify_asan_link_order=0; the library defines no
#      malloc, so the runtime still comes before libc where the program is
#      built with ASan).  LeakSanitizer is on; the suppressions name only
#      libraries other than ours, so a leak in libp11logout fails.
#  (b) clang TSan build, the thread and fork tests, the exit-time release
#      (watchdog, one release at a time, signals), the session limit and
#      the wait queue.  Only tests whose preloaded programs are built here:
#      the library built with TSan needs the runtime in the program
#      (__tsan_init), and clang's shared TSan runtime cannot be preloaded
#      into another (it crashes in its __cxa_atexit interceptor, called by
#      libstdc++'s initialiser before the runtime's own, which a program
#      linked with it runs from .preinit_array).  So session-places-capped.sh
#      and wait-capped.sh, whose signers are the system's openssl, run
#      under ASan only.
#  (c) the robustness tests with every library-preloaded process under
#      valgrind memcheck (P11L_VALGRIND=1: --error-exitcode=99,
#      --errors-for-leak-kinds=definite; see P11L_VG in tests/tap-lib.sh).
#  (d) the integration tests (openssl engine, p11-kit-proxy, pkcs11-tool,
#      the batch signing against the session cap, p11tool and PyKCS11)
#      the same way, in the same build.  tests/valgrind.supp suppresses
#      only what other programs and libraries leak; batch-sign.sh runs 20
#      sequential processes per case and 3 batches of 8 instead of 50 and 4.
#
# Every step runs, even after one fails; each step's test-suite.log is
# copied to $P11L_CI_RESULTS (default ci-results/) as san-STEP.log, where
# .ci/run adds up the results, and the script exits non-zero when any
# step failed.
#
# The sanitizer runtimes look up what they intercept with dlsym(RTLD_NEXT)
# while they initialise, before their shadow memory exists; the library's
# dlsym answers, so its entry path is left uninstrumented
# (sanitizer-ignorelist.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
ci=$top/.ci
results=${P11L_CI_RESULTS:-$top/ci-results}
mkdir -p "$results"
rm -f "$results"/san-*.log
failed_steps=
[ -x configure ] || autoreconf -fi

asan_rt=$(clang -print-file-name=libclang_rt.asan-x86_64.so)
[ -f "$asan_rt" ] || { echo "sanitizers: no shared ASan runtime ($asan_rt)" >&2; exit 1; }

# build DIR CONFIGURE-ARGS...: a fresh out-of-tree build of everything,
# test programs included.
build() {
	local dir=$1
	shift
	rm -rf "$dir" && mkdir "$dir"
	(cd "$dir" && ../configure "$@" >/dev/null && make -j2 >/dev/null &&
		make -j2 -C tests check TESTS= >/dev/null)
}

step() { echo "=== sanitizers: $* ($(date +%T))"; }

# check NAME DIR [VAR=VALUE...] -- MAKE-ARGS...: "make MAKE-ARGS..." in
# DIR with VAR=VALUE... in the environment; keeps tests/test-suite.log as
# $results/san-NAME.log, prints it when the step fails (it holds the log
# of every failed test) and records the failure.
check() {
	local name=$1 dir=$2 rc=0
	shift 2
	local vars=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do vars+=("$1"); shift; done
	shift
	rm -f "$dir/tests/test-suite.log"
	(cd "$dir" && env "${vars[@]}" make "$@") || rc=$?
	if [ -f "$dir/tests/test-suite.log" ]; then
		cp "$dir/tests/test-suite.log" "$results/san-$name.log"
	fi
	if [ "$rc" -ne 0 ]; then
		echo "=== sanitizers: step $name FAILED (make status $rc)"
		if [ -f "$dir/tests/test-suite.log" ]; then
			cat "$dir/tests/test-suite.log"
		else
			# No test-suite.log: make failed before the tests ran.
			echo "# ERROR: 1" >"$results/san-$name.log"
		fi
		failed_steps="$failed_steps $name"
	fi
	echo "=== sanitizers: step $name done ($(date +%T))"
}

# --- (a) ASan + UBSan -----------------------------------------------------
step "ASan+UBSan build, whole suite"
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
build ci-build-asan CC=clang CXX=clang++ \
	CFLAGS="-O1 -g $san -fno-omit-frame-pointer -shared-libasan -fsanitize-ignorelist=$ci/sanitizer-ignorelist.txt" \
	LDFLAGS="$san -shared-libasan -Wc,-shared-libasan -Wl,-rpath,$(dirname "$asan_rt")"
check asan ci-build-asan \
	P11L_PRELOAD_PREFIX="$asan_rt" \
	P11L_SANITIZER_NEEDED="$(basename "$asan_rt") libgcc_s.so.1" \
	ASAN_OPTIONS=detect_leaks=1:verify_asan_link_order=0:abort_on_error=0 \
	LSAN_OPTIONS="suppressions=$ci/lsan-suppressions.txt:print_suppressions=0" \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	-- -j2 check

# --- (b) TSan ---------------------------------------------------------------
# The runtime is linked into each program (clang's default), so the
# library, preloaded into the test programs built here, finds it there.
# Function entry/exit is not instrumented: TSan would record the entry of
# the library's dlsym route, called while the runtime initialises, and
# crash (the ignorelist does not cover entry/exit hooks).
step "TSan build, thread, fork, release and session-limit tests"
build ci-build-tsan CC=clang CXX=clang++ \
	CFLAGS="-O1 -g -fsanitize=thread -fsanitize-ignorelist=$ci/sanitizer-ignorelist.txt -mllvm -tsan-instrument-func-entry-exit=0" \
	LDFLAGS="-fsanitize=thread"
# TSan sleeps atexit_sleep_ms (1 s) before a process exits, to catch races
# with threads still running then: the time bounds of the tests get that
# much slack and a half (P11L_TIME_SLACK_MS, tests/robust-lib.sh).
check tsan ci-build-tsan \
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	P11L_TIME_SLACK_MS=1500 \
	-- -C tests check TESTS="robust-threads.sh robust-fork.sh robust-stuck.sh \
		exit-release.sh signal-release.sh session-places.sh wait-retry.sh \
		record-many.sh unit-sessions unit-record"

# --- (c) valgrind memcheck --------------------------------------------------
# robust-config.sh is left out: it runs ~250 processes for the parsing
# alone, which ASan covers; robust-setuid.sh skips itself.
step "valgrind memcheck, robustness tests"
build ci-build-valgrind CFLAGS="-O1 -g"
# differential.sh: 30 seeds, each preloaded run under memcheck (its status
# 99 on an error is a divergence).
check valgrind-robust ci-build-valgrind P11L_VALGRIND=1 P11L_DIFF_SEEDS=30 -- \
	-C tests -j2 check TESTS="robust-fork.sh \
		robust-threads.sh robust-unload.sh robust-openssl.sh \
		robust-stuck.sh robust-twice.sh robust-misbehave.sh \
		list-bounds.sh exit-release.sh signal-release.sh \
		differential.sh diff-regress.sh"

# --- (d) valgrind memcheck, integration tests -------------------------------
# Each process that has the library preloaded runs under valgrind: openssl
# with the libp11 engine, pkcs11-tool, p11tool, python3 with PyKCS11 and
# late-client.  Same build as (c).
step "valgrind memcheck, integration tests"
check valgrind-integration ci-build-valgrind P11L_VALGRIND=1 \
	P11L_BATCH_RUNS=20 P11L_BATCH_BATCHES=3 -- \
	-C tests -j2 check TESTS="batch-sign.sh openssl-engine.sh \
		p11kit-proxy.sh pkcs11-tool.sh consumers.sh signal-engine.sh"

if [ -n "$failed_steps" ]; then
	step "FAILED:$failed_steps"
	exit 1
fi
step "all passed"
