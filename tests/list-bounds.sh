#!/bin/sh
# Issue 9.2: a function list is never read past its end, and each wrapped
# list forwards to its own list's functions.
#  - A C_GetFunctionList list whose version claims 3.0 or 3.2 (SoftHSM2
#    2.7.0 claims 3.2) in an allocation of exactly the 2.x size: the
#    library reads only the 2.x entries.  Checked by memcheck (valgrind;
#    under the ASan CI step by ASan, which instruments the library and the
#    module alike): every read past the list is an error.  Skipped, with
#    the reason, where neither is available.
#  - A module whose 2.x and 3.0 lists have different C_Login, C_Logout and
#    C_CloseSession (FAKE_SPLIT_LISTS): each call reaches the function of
#    the list it was made through, exactly as without the library.
. "$P11L_TEST_SRCDIR/tap-lib.sh"

PROG=$P11L_TEST_BUILDDIR/list-bounds
MOD=$P11L_TEST_BUILDDIR/.libs/fake-module.so
p11l_fixture "$P11L_LIB" "$MOD" "$PROG"
p11l_hermetic

# The memory checker: ASan in the ASan build, else the CI's valgrind line,
# else valgrind here; empty when there is none.
VG=
CHECKER=
if [ -n "${P11L_PRELOAD_PREFIX:-}" ]; then
	CHECKER=ASan
elif [ -n "${P11L_VG:-}" ]; then
	VG=$P11L_VG
	CHECKER=valgrind
elif command -v valgrind >/dev/null 2>&1; then
	VG="valgrind -q --error-exitcode=99"
	CHECKER=valgrind
fi

# checked NAME PRELOAD [VAR=VALUE...] -- ARG...: run (tap-lib.sh) of the
# program on the fake module, under the checker (the run without the
# library too), with LD_PRELOAD as given.
checked() {
	name=$1 pre=$2
	shift 2
	vars=
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		vars="$vars $(p11l_quote "$1")"
		shift
	done
	shift
	# shellcheck disable=SC2086
	eval "run \"\$name\" \"\$pre\" $vars -- $VG \"\$PROG\" \"\$MOD\" \"\$@\""
}
before_exit() { sed '/^driver exit$/,$d' "$T/$1.log"; }
after_exit() { sed '1,/^driver exit$/d' "$T/$1.log"; }

for ver in 3.0 3.2; do
	checked "bare-$ver" "$(p11l_preload_none)" FAKE_LIST2_VERSION=$ver -- gfl
	checked "lib-$ver" "$(p11l_preload)" FAKE_LIST2_VERSION=$ver -- gfl
	check "$ver: the C_GetFunctionList list claims $ver (control)" \
		grep -qx "C_GetFunctionList list claims $ver" "$T/bare-$ver.out"
	check "$ver: without the library the program succeeds (control)" \
		[ "$(cat "$T/bare-$ver.rc")" = 0 ]
	if [ -z "$CHECKER" ]; then
		echo "ok $((P11L_TAP_N + 1)) # SKIP $ver: no valgrind and no ASan to see a read past the list"
		P11L_TAP_N=$((P11L_TAP_N + 1))
	else
		if [ "$(cat "$T/lib-$ver.rc")" = 0 ] && ! grep -q "ERROR SUMMARY: [1-9]\|AddressSanitizer" "$T/lib-$ver.err"; then
			ok "$ver: with the library, $CHECKER finds no read past the 2.x list"
		else
			not_ok "$ver: with the library, $CHECKER finds no read past the 2.x list"
			show "$T/lib-$ver.err"
		fi
	fi
	check "$ver: the program's answers are the same with the library" \
		cmp -s "$T/bare-$ver.out" "$T/lib-$ver.out"
	check "$ver: the module's calls before exit are the same with the library" \
		sh -c "[ \"\$(sed '/^driver exit\$/,\$d' '$T/bare-$ver.log')\" = \"\$(sed '/^driver exit\$/,\$d' '$T/lib-$ver.log')\" ]"
	check "$ver: the login is released at exit through the 2.x list" \
		grep -qx "fake1 C_Logout session=100 slot=1 -> CKR_OK" "$T/lib-$ver.log"
done

checked bare-split "$(p11l_preload_none)" FAKE_SPLIT_LISTS=1 -- split
checked lib-split "$(p11l_preload)" FAKE_SPLIT_LISTS=1 -- split
check "split lists: the program succeeds without the library (control)" \
	[ "$(cat "$T/bare-split.rc")" = 0 ]
check "split lists: the program succeeds with the library" \
	[ "$(cat "$T/lib-split.rc")" = 0 ]
check "split lists: the 3.0 list's C_Logout is its own (control)" \
	grep -qx "fake1 C_Logout session=101 slot=1 -> CKR_OK" "$T/bare-split.log"
before_exit bare-split >"$T/bare-split.before"
before_exit lib-split >"$T/lib-split.before"
if cmp -s "$T/bare-split.before" "$T/lib-split.before"; then
	ok "split lists: every call reaches the function of the list it was made through"
else
	not_ok "split lists: every call reaches the function of the list it was made through"
	diff "$T/bare-split.before" "$T/lib-split.before" | show
fi
after_exit lib-split >"$T/lib-split.after"
check "split lists: the exit logout goes through the 2.x list the last login used" \
	grep -qx "fake1 C_Logout session=100 slot=1 list=2.x -> CKR_OK" "$T/lib-split.after"
check "split lists: exactly one C_Logout at exit" \
	[ "$(grep -c "C_Logout" "$T/lib-split.after")" = 1 ]
done_testing
