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
#  (b) clang TSan build, the thread and fork tests.
#  (c) the robustness tests with every library-preloaded process under
#      valgrind memcheck (P11L_VALGRIND=1: --error-exitcode=99,
#      --errors-for-leak-kinds=definite).
#
# The sanitizer runtimes look up what they intercept with dlsym(RTLD_NEXT)
# while they initialise, before their shadow memory exists; the library's
# dlsym answers, so its entry path is left uninstrumented
# (sanitizer-ignorelist.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
ci=$top/.ci
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

# --- (a) ASan + UBSan -----------------------------------------------------
step "ASan+UBSan build, whole suite"
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
build ci-build-asan CC=clang \
	CFLAGS="-O1 -g $san -fno-omit-frame-pointer -shared-libasan -fsanitize-ignorelist=$ci/sanitizer-ignorelist.txt" \
	LDFLAGS="$san -shared-libasan -Wc,-shared-libasan -Wl,-rpath,$(dirname "$asan_rt")"
(cd ci-build-asan &&
	P11L_PRELOAD_PREFIX=$asan_rt \
	ASAN_OPTIONS=detect_leaks=1:verify_asan_link_order=0:abort_on_error=0 \
	LSAN_OPTIONS=suppressions=$ci/lsan-suppressions.txt:print_suppressions=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	make -j2 check)

# --- (b) TSan ---------------------------------------------------------------
# The runtime is linked into each program (clang's default), so the
# library, preloaded into the test programs built here, finds it there.
# Function entry/exit is not instrumented: TSan would record the entry of
# the library's dlsym route, called while the runtime initialises, and
# crash (the ignorelist does not cover entry/exit hooks).
step "TSan build, thread and fork tests"
build ci-build-tsan CC=clang \
	CFLAGS="-O1 -g -fsanitize=thread -fsanitize-ignorelist=$ci/sanitizer-ignorelist.txt -mllvm -tsan-instrument-func-entry-exit=0" \
	LDFLAGS="-fsanitize=thread"
(cd ci-build-tsan &&
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	make -C tests check TESTS="robust-threads.sh robust-fork.sh robust-stuck.sh")

# --- (c) valgrind memcheck --------------------------------------------------
# robust-config.sh is left out: it runs ~250 processes for the parsing
# alone, which ASan covers; robust-setuid.sh skips itself.
step "valgrind memcheck, robustness tests"
build ci-build-valgrind CFLAGS="-O1 -g"
(cd ci-build-valgrind &&
	P11L_VALGRIND=1 make -C tests -j2 check TESTS="robust-fork.sh \
		robust-threads.sh robust-unload.sh robust-openssl.sh \
		robust-stuck.sh robust-twice.sh robust-misbehave.sh")

step "all passed"
