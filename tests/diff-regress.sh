#!/bin/sh
# Issue 22.1: each divergence differential.sh found, minimised to a short
# scripted program (diff-driver's "script:" form: the steps, what an exit
# handler registered before the first login does, the ending), run
# without the library and with it, as differential.sh runs a seed.  Each
# asserts the same transcript, status and stderr, nothing left logged in
# and the same calls after the program's own C_Finalize; none of them may
# diverge, not even in a way README documents.
. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/spy-trace.sh"
. "$P11L_TEST_SRCDIR/diff-lib.sh"

diff_fixture

# case NAME KIND MODES SCRIPT DESCRIPTION
case_() {
	name=$1 kind=$2 modes=$3 script=$4 desc=$5
	if [ "$kind" = spy ] && [ -n "$DIFF_NO_SPY" ]; then
		P11L_TAP_N=$((P11L_TAP_N + 1))
		echo "ok $P11L_TAP_N # SKIP $desc: $DIFF_NO_SPY"
		return
	fi
	diff_seed "$kind" "script:$script" "$modes" "$name" >"$T/$name.found"
	if [ -s "$T/$name.found" ]; then
		not_ok "$desc"
		sed 's/^/#   /' "$T/$name.found"
		show "$T/$kind-$name-without.out"
	else
		ok "$desc"
	fi
}

# Behind pkcs11-spy both the spy and SoftHSM2 are wrapped; the release
# goes through both, and only the outer one may answer the program's
# clean-up: the inner one answered the second call too.
case_ spy-close-twice spy close "open=slot0/rw login=s1/user handler: close=s1 close=s1 exit" \
	"behind pkcs11-spy, mode close: a second close of a released session gets CKR_SESSION_HANDLE_INVALID"
case_ spy-close-logout spy logout "open=slot0/rw login=s1/user handler: close=s1 logout=s1 exit" \
	"behind pkcs11-spy, mode logout: a logout after the close of a released session gets CKR_SESSION_HANDLE_INVALID"
case_ spy-finalize-twice spy finalize "open=slot0/rw login=s1/user handler: finalize finalize exit" \
	"behind pkcs11-spy, mode finalize: a second C_Finalize gets CKR_CRYPTOKI_NOT_INITIALIZED"

# The program's own C_Finalize after the release: what the release ended
# is gone for it too, and the finalized module is not asked for a slot.
for kind in fake spy; do
	case_ "$kind-own-finalize" "$kind" "logout close" \
		"open=slot0/rw login=s1/user handler: finalize close-all=slot0 close=s1 logout=s1 exit" \
		"$kind: after the release and the program's own C_Finalize, its close, close all and logout get CKR_CRYPTOKI_NOT_INITIALIZED"
done

# Mode finalize: the release finalized the module; the program's clean-up
# of what the release did not end (closed before, bogus) gets the answers
# of a module still initialised.
for kind in fake spy; do
	case_ "$kind-unreleased" "$kind" finalize \
		"open=slot0/rw open=slot0/rw login=s2/user close=s1 handler: close=s1 close=bogus logout=bogus close=s2 close=s2 exit" \
		"$kind, mode finalize: closing or logging out a handle the release did not end gets CKR_SESSION_HANDLE_INVALID"
done

# The release's own session, opened to log out a slot whose sessions the
# program had closed, gets the handle of one of those (a module that hands
# out the lowest free handle): the program's close of that stale handle
# is the module's to answer, CKR_SESSION_HANDLE_INVALID.
DIFF_FAKE_ENV=FAKE_REUSE_HANDLES=1 case_ fake-temp-session fake "logout close finalize" \
	"open=slot0/rw login=s1/user close=s1 handler: close=s1 logout=s1 exit" \
	"a stale handle equal to the release's own session gets CKR_SESSION_HANDLE_INVALID"

# A forked child on its parent's initialised module, whose token shares
# the login with it (odd-module, as a YubiHSM's session): the child's
# C_Login answered CKR_USER_ALREADY_LOGGED_IN is its parent's login, and
# the child's exit leaves it: the parent is still logged in after it.
case_ odd-fork-already odd "logout close finalize" \
	"open=slot0/rw login=s1/user child: login=s1/user parent: info=s1 logout=s1 fork" \
	"a forked child's CKR_USER_ALREADY_LOGGED_IN is its parent's login: not logged out at the child's exit"
case_ odd-fork-init-already odd "logout close finalize" \
	"open=slot0/rw login=s1/user child: initialize=locking open=slot0/rw login=s2/user parent: info=s1 logout=s1 fork" \
	"the same for a child that initialises the module again while its parent is logged in"

# quick_exit: an at_quick_exit handler registered before the first login
# runs after the release and logs in again; that login is released too,
# as it is at exit().  (What it is answered differs: README "Limits".)
q="open=slot0/rw login=s1/user handler: open=slot0/rw login=s2/user"
for end in quick_exit exit; do
	diff_run "q-$end-without" fake "" logout "script:$q $end"
	diff_run "q-$end-with" fake lib logout "script:$q $end"
	check "$end: the late handler's login stays without the library (control)" \
		[ "$(diff_left_in "q-$end-without" fake)" = 1 ]
	check "$end: the late handler's login is released with the library" \
		[ "$(diff_left_in "q-$end-with" fake)" = 0 ]
	check "$end: the same status" [ "$(cat "$T/q-$end-with.rc")" = "$(cat "$T/q-$end-without.rc")" ]
done
done_testing
