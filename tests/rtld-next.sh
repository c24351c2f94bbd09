#!/bin/sh
# dlsym(RTLD_NEXT, ...) made by another library must still resolve relative
# to that library when libp11logout.so (which interposes dlsym) is loaded.
# Two preload libraries, a and b, each define p11l_chain, append their name
# and forward through dlsym(RTLD_NEXT, "p11l_chain"); the real definition,
# in a library the program links with, appends "real".  Resolved relative
# to its caller, the chain reads "a>b>real"; resolved relative to
# libp11logout.so, a would find itself (or b would find a) and the chain
# shows LOOP.
. "$P11L_TEST_SRCDIR/tap-lib.sh"

PROG=$P11L_TEST_BUILDDIR/rtld-next-prog
L=$P11L_TEST_BUILDDIR/.libs
for f in "$P11L_LIB" "$L/rtld-next-a.so" "$L/rtld-next-b.so" \
	"$L/rtld-next-a-O0.so" "$L/rtld-next-b-O0.so"; do
	[ -f "$f" ] || bail_out "missing $f: run make first"
done
[ -x "$PROG" ] || bail_out "missing $PROG"
p11l_tmpdir
p11l_hermetic

if command -v timeout >/dev/null 2>&1; then TIMEOUT="timeout 60"; else TIMEOUT=; fi

# run PRELOAD: runs the program with LD_PRELOAD=PRELOAD (none if empty);
# its output is in $P11L_TMP/out.
run() {
	if [ -n "$1" ]; then
		# shellcheck disable=SC2086 # TIMEOUT is a command and its argument
		env -u LD_PRELOAD $TIMEOUT \
			env LD_PRELOAD="$1" "$PROG" \
			>"$P11L_TMP/out" 2>"$P11L_TMP/err" </dev/null
	else
		# shellcheck disable=SC2086
		env -u LD_PRELOAD $TIMEOUT "$PROG" \
			>"$P11L_TMP/out" 2>"$P11L_TMP/err" </dev/null
	fi
	rc=$?
}

# expect DESCRIPTION KEY VALUE: the program printed "KEY: VALUE".
expect() {
	got=$(sed -n "s/^$2: //p" "$P11L_TMP/out")
	if [ "$got" = "$3" ]; then
		ok "$1: $2 is $3"
	else
		not_ok "$1: $2 is $3 (got '$got')"
		while IFS= read -r line; do diag "  $line"; done <"$P11L_TMP/err"
	fi
}

run ""
check "no preload: exit status 0" test "$rc" = 0
expect "no preload" direct real
expect "no preload" next real

# The test's own libraries, without libp11logout: the chain it expects.
for v in "" -O0; do
	A=$L/rtld-next-a$v.so B=$L/rtld-next-b$v.so
	run "$A:$B"
	check "a$v:b$v: exit status 0" test "$rc" = 0
	expect "a$v:b$v" direct "a>b>real"
	expect "a$v:b$v" next "a>b>real"
	expect "a$v:b$v" a-next-dlsym libc.so.6
done

for v in "" -O0; do
	A=$L/rtld-next-a$v.so B=$L/rtld-next-b$v.so
	for order in "$P11L_LIB:$A:$B" "$A:$P11L_LIB:$B" "$A:$B:$P11L_LIB"; do
		name=$(echo "$order" | sed "s|$P11L_LIB|libp11logout|; s|$L/||g; s|\.so||g")
		run "$order"
		check "$name: exit status 0" test "$rc" = 0
		expect "$name" direct "a>b>real"
		expect "$name" next "a>b>real"
	done
	# dlsym(RTLD_NEXT, "dlsym") from a: the definition after a.
	run "$P11L_LIB:$A:$B"
	expect "libp11logout first, a$v" a-next-dlsym libc.so.6
	run "$A:$P11L_LIB:$B"
	expect "a$v before libp11logout" a-next-dlsym "$(basename "$P11L_LIB")"
done

done_testing
