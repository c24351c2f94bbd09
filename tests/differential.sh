#!/bin/sh
# Issue 22.1: the whole library, checked against generated programs.
# diff-driver turns each seed into a plausible PKCS#11 program (sessions,
# logins, searches, signing, logouts, closes, finalizes) and one of its
# endings (return, exit, exit handlers that make more calls, quick_exit,
# OPENSSL_cleanup, exit from a second thread, fork).  Each seed runs
# without the library (the control) and with it in modes logout, close
# and finalize, against the fake module, against odd-module (whose login
# a forked child shares, as a YubiHSM's) and against SoftHSM2 through
# pkcs11-spy, the token restored before every run.  Asserted per seed:
# the same transcript and exit status, nothing new on stderr, nothing the
# program left logged in still logged in at the module (counted from what
# reached it), and no call of the library's reaching the module after the
# program's own C_Finalize.  Divergences README "Limits" documents are
# counted and shown, not failed (diff-lib.sh, diff_documented).
#
# The seeds: P11L_DIFF_FIRST (default 1) and the P11L_DIFF_SEEDS (default
# 150) after it, the same list every run so that a failure reproduces:
#     tests/diff-driver SEED MODULE PIN SO-PIN
# prints the program's transcript.  CI sets P11L_DIFF_SEEDS=2000.
. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/spy-trace.sh"
. "$P11L_TEST_SRCDIR/diff-lib.sh"

diff_fixture
first=${P11L_DIFF_FIRST:-1}
count=${P11L_DIFF_SEEDS:-150}
case $first$count in *[!0-9]*) bail_out "P11L_DIFF_FIRST and P11L_DIFF_SEEDS take numbers" ;; esac
seeds=$(seq "$first" $((first + count - 1)))
diag "seeds $first to $((first + count - 1)) ($count per mode and module)"

for kind in fake odd spy; do
	if [ "$kind" = spy ] && [ -n "$DIFF_NO_SPY" ]; then
		for i in 1 2 3 4; do
			P11L_TAP_N=$((P11L_TAP_N + 1))
			echo "ok $P11L_TAP_N # SKIP SoftHSM2 through pkcs11-spy: $DIFF_NO_SPY"
		done
		continue
	fi
	: >"$T/$kind.found"
	leaked=0 finalized=0
	for s in $seeds; do
		diff_seed "$kind" "$s" | sed "s/^/$s /" >>"$T/$kind.found"
		[ "$(diff_left_in "$kind-$s-without" "$kind")" = 0 ] || leaked=$((leaked + 1))
		[ -s "$T/$kind-$s-without.after" ] && finalized=$((finalized + 1))
		rm -f "$T/$kind-$s-"*
	done
	case $kind in
	fake) name="the fake module" ;;
	odd) name="odd-module (a login shared with forked children)" ;;
	spy) name="SoftHSM2 through pkcs11-spy" ;;
	esac
	# The control: the count sees a login left, on a program that leaves
	# one, without the library.
	if [ "$kind" != odd ]; then
		diff_run "$kind-control" "$kind" "" logout "script:open=slot0/rw login=s1/user exit"
		check "$name: without the library, a program that exits logged in leaves its login at the module (control; $leaked of $count seeds did)" \
			[ "$(diff_left_in "$kind-control" "$kind")" = 1 ]
	fi
	diag "$name: $finalized of $count programs call the module after their own C_Finalize"
	for mode in logout close finalize; do
		grep " $mode: " "$T/$kind.found" >"$T/$kind.$mode" || :
		grep -v ": documented: " "$T/$kind.$mode" >"$T/$kind.$mode.bad" || :
		n=$(cut -d' ' -f1 "$T/$kind.$mode.bad" | sort -u | wc -l)
		d=$(grep -c ": documented: " "$T/$kind.$mode" || :)
		if [ "$n" = 0 ]; then
			ok "$name, mode $mode: $count seeds, no divergence outside the documented ones ($d documented)"
		else
			not_ok "$name, mode $mode: $n of $count seeds diverge ($d documented)"
			head -20 "$T/$kind.$mode.bad" | sed 's/^/#   seed /'
		fi
		[ "$d" = 0 ] || grep ": documented: " "$T/$kind.$mode" | head -3 | sed 's/^/#   documented, seed /'
	done
done
done_testing
