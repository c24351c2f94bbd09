#!/bin/sh
# P11LOGOUT_MODULES: only the modules matching one of its ':'-separated
# patterns are wrapped (a pattern with a '/' against the whole path, one
# without against the file name).  A module left out is untouched: it
# receives exactly the calls it receives without the library, and none at
# exit.  The program logs in to both fake1 (fake-module.so) and fake2
# (fake-module2.so) and exits.
. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/settings-lib.sh"

run base "" -- "$DRIVER" "$MOD" two-modules "$MOD2"
check "without the library: the program runs to its end, nothing at exit" \
	test "$(rc base)" = 0 -a ! -s "$T/base.exit"
for m in fake1 fake2; do
	grep "^$m " "$T/base.log" >"$T/base.$m"
	check "without the library: $m logged in" \
		grep -q "^$m C_Login .*-> CKR_OK" "$T/base.$m"
done

# filter_case NAME WRAPPED PATTERN [VAR=VALUE...]: WRAPPED is the list of
# modules expected to be wrapped ("fake1", "fake2", "fake1 fake2", "").
n=0
filter_case() {
	name=$1 wrapped=$2 pat=$3
	shift 3
	n=$((n + 1))
	tag=f$n
	run "$tag" lib P11LOGOUT_MODULES="$pat" P11LOGOUT_DEBUG=1 "$@" -- \
		"$DRIVER" "$MOD" two-modules "$MOD2"
	same "$name: stdout as without the library" "$T/base.out" "$T/$tag.out"
	check "$name: exit status 0" test "$(rc "$tag")" = 0
	for m in fake1 fake2; do
		grep "^$m " "$T/$tag.exit" >"$T/$tag.$m.exit"
		grep "^$m " "$T/$tag.log" >"$T/$tag.$m"
		case " $wrapped " in
		*" $m "*)
			expect "$name: $m is wrapped and logged out at exit" "$T/$tag.$m.exit" <<EOF
$m C_Logout session=100 slot=1 -> CKR_OK
$m C_CloseSession session=100 slot=1 -> CKR_OK
EOF
			;;
		*)
			check "$name: $m gets no call at exit" test ! -s "$T/$tag.$m.exit"
			same "$name: $m's whole call log is the same as without the library" \
				"$T/base.$m" "$T/$tag.$m"
			;;
		esac
	done
	if [ -n "$wrapped" ] && [ "$wrapped" != "fake1 fake2" ]; then
		check "$name: the debug log says which module was passed through" \
			grep -q 'not in P11LOGOUT_MODULES; passed through' "$T/$tag.err"
	fi
}

filter_case "file name of the first" fake1 fake-module.so
filter_case "file name of the second" fake2 fake-module2.so
filter_case "whole path of the second" fake2 "$MOD2"
filter_case "whole path of the first" fake1 "$MOD"
filter_case "a glob with '/' against the whole path" fake1 "*/fake-module.so"
filter_case "a path that is not the whole path matches nothing" "" ".libs/fake-module.so"
filter_case "a glob matching both" "fake1 fake2" "fake-module*.so"
filter_case "the second pattern of a list" fake2 "nothing.so:fake-module2.so"
filter_case "empty patterns in a list are skipped" fake1 "::fake-module.so:"
filter_case "both, listed" "fake1 fake2" "fake-module2.so:$MOD"
filter_case "a part of the file name is no match" "" fake-module
filter_case "matching is case-sensitive" "" FAKE-MODULE.so
filter_case "no pattern matches" "" "nothing.so:other.so"

# From the configuration file, and the variable over the file.
printf 'modules = fake-module2.so\n' >"$T/m2.conf"
run cf lib P11LOGOUT_CONFIG="$T/m2.conf" -- "$DRIVER" "$MOD" two-modules "$MOD2"
grep '^fake1 ' "$T/cf.log" >"$T/cf.fake1"
same "'modules =' in the file: fake1 untouched" "$T/base.fake1" "$T/cf.fake1"
check "'modules =' in the file: fake2 logged out at exit" \
	grep -qx 'fake2 C_Logout session=100 slot=1 -> CKR_OK' "$T/cf.exit"
run cfe lib P11LOGOUT_CONFIG="$T/m2.conf" P11LOGOUT_MODULES=fake-module.so -- \
	"$DRIVER" "$MOD" two-modules "$MOD2"
grep '^fake2 ' "$T/cfe.log" >"$T/cfe.fake2"
same "P11LOGOUT_MODULES over the file: fake2 untouched" "$T/base.fake2" "$T/cfe.fake2"
check "P11LOGOUT_MODULES over the file: fake1 logged out at exit" \
	grep -qx 'fake1 C_Logout session=100 slot=1 -> CKR_OK' "$T/cfe.exit"

# p11-run --modules.
run run "" -- "$P11L_RUN" --modules fake-module2.so "$DRIVER" "$MOD" two-modules "$MOD2"
grep '^fake1 ' "$T/run.log" >"$T/run.fake1"
same "p11-run --modules: fake1 untouched" "$T/base.fake1" "$T/run.fake1"
check "p11-run --modules: fake2 logged out at exit" \
	grep -qx 'fake2 C_Logout session=100 slot=1 -> CKR_OK' "$T/run.exit"

# Mode close does not reach a module left out either.
run unwrapped lib FAKE_SLOTS=2 P11LOGOUT_MODULES=nothing.so P11LOGOUT_MODE=close -- \
	"$DRIVER" "$MOD" mixed-slots
check "mode close: a module left out runs to its end (status 0)" \
	test "$(rc unwrapped)" = 0
check "mode close: sessions of a module left out are not closed" \
	test ! -s "$T/unwrapped.exit"

done_testing
