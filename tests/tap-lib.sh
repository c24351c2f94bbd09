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

# A private temporary directory, removed when the test exits.
p11l_tmpdir() {
	P11L_TMP=$(mktemp -d "${TMPDIR:-/tmp}/p11l-test.XXXXXX") || bail_out "mktemp failed"
	trap 'rm -rf "$P11L_TMP"' EXIT
}

# The LD_PRELOAD value that loads the library: P11L_PRELOAD_PREFIX (set by
# the sanitizer CI: the ASan runtime, which must come first) then the
# library.
p11l_preload() {
	echo "${P11L_PRELOAD_PREFIX:+$P11L_PRELOAD_PREFIX }$P11L_LIB"
}
