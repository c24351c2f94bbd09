#!/bin/sh
# Issue 22.2: every input the fuzz targets keep (tests/fuzz/corpus: the
# seeds and one file per finding fixed) replayed through the targets as
# this build compiled them, each under a memory checker where there is
# one (ASan in the sanitizer build, else valgrind), bounded in time so that
# a release that no longer ends fails rather than hangs.
#  - config: the settings (file and variables): one warning line for each
#    value refused, the default kept, nothing out of range.
#  - module: a misbehaving module under the wrapped calls and the release:
#    no read past what the module or the program gave, a release of
#    bounded length, nothing left in the record after finalize.
. "$P11L_TEST_SRCDIR/tap-lib.sh"

p11l_fixture "$P11L_TEST_BUILDDIR/replay-config" "$P11L_TEST_BUILDDIR/replay-module"

VG=
if [ -n "${P11L_PRELOAD_PREFIX:-}" ]; then
	diag "memory checker: ASan (this build)"
elif [ -n "${P11L_VG:-}" ]; then
	VG=$P11L_VG
elif command -v valgrind >/dev/null 2>&1; then
	VG="valgrind -q --error-exitcode=99"
else
	diag "no valgrind and no ASan: reads past a buffer go unseen here"
fi

for target in config module; do
	for f in "$P11L_TEST_SRCDIR/fuzz/corpus/$target"/*; do
		name=$target/${f##*/}
		if timeout 120 $VG "$P11L_TEST_BUILDDIR/replay-$target" "$f" >"$T/out" 2>&1; then
			ok "$name"
		else
			not_ok "$name"
			sed 's/^/# /' "$T/out" | head -n 40
		fi
	done
done
done_testing
