#!/bin/sh
# libp11logout against a fake PKCS#11 module that logs every call it
# receives.  Each scenario of fake-driver runs twice: without the library
# (the baseline: the program never logs out, which shows these checks can
# fail) and with LD_PRELOAD=libp11logout.so.  The driver writes the line
# "driver exit" into the log as it exits, so the lines after it are the
# calls made at exit.
. "$P11L_TEST_SRCDIR/tap-lib.sh"

DRIVER=$P11L_TEST_BUILDDIR/fake-driver
MOD=$P11L_TEST_BUILDDIR/.libs/fake-module.so
MOD2=$P11L_TEST_BUILDDIR/.libs/fake-module2.so

for f in "$P11L_LIB" "$MOD" "$MOD2"; do
	[ -f "$f" ] || bail_out "missing $f: run make first"
done
[ -x "$DRIVER" ] || bail_out "missing $DRIVER"
command -v timeout >/dev/null 2>&1 || skip_all "timeout(1) is needed"
p11l_tmpdir
T=$P11L_TMP

# scenario NAME [VAR=VALUE...] -- ARG...: both, then the checks every
# scenario makes: baseline and program_unchanged.
scenario() {
	both "$@"
	baseline "$1"
	program_unchanged "$1"
}

# exits_as DESCRIPTION TAG: TAG.exit is exactly the text on stdin.
exits_as() { expect "$1" "$T/$2.exit"; }

# program_unchanged NAME: the library changed nothing the program can
# see: exit status, stdout, stderr, and the calls the program made before
# exit (robust-lib.sh's output_unchanged checks less).
program_unchanged() {
	same "$1: exit status unchanged" "$T/$1.without.rc" "$T/$1.with.rc"
	same "$1: stdout unchanged" "$T/$1.without.out" "$T/$1.with.out"
	same "$1: stderr unchanged" "$T/$1.without.err" "$T/$1.with.err"
	same "$1: the program's own calls unchanged" \
		"$T/$1.without.prog" "$T/$1.with.prog"
}

# baseline NAME: without the library the program ran to its end, logging
# in (or not) and nothing happened at exit.
baseline() {
	if [ "$(cat "$T/$1.without.rc")" = 0 ] &&
		grep -qx 'driver exit' "$T/$1.without.log"; then
		ok "$1: runs to its end without the library"
	else
		not_ok "$1: runs to its end without the library"
		show "$T/$1.without.err"
	fi
	check "$1: without the library nothing is called at exit" \
		test ! -s "$T/$1.without.exit"
}

LOGOUT_100='fake1 C_Logout session=100 slot=1 -> CKR_OK
fake1 C_CloseSession session=100 slot=1 -> CKR_OK'

# --- a logged-in slot is logged out at exit ---------------------------
both one-slot -- "$DRIVER" "$MOD" one-slot
baseline one-slot
check "one-slot: the program logged in" \
	grep -qx 'fake1 C_Login session=100 slot=1 user=1 -> CKR_OK' \
	"$T/one-slot.without.prog"
program_unchanged one-slot
exits_as "one-slot: C_Logout then C_CloseSession at exit" one-slot.with <<EOF
$LOGOUT_100
EOF

# CKU_SO is recorded like CKU_USER.
scenario so-login -- "$DRIVER" "$MOD" so-login
exits_as "so-login: an SO login is logged out at exit" so-login.with <<EOF
$LOGOUT_100
EOF

# A token that is already logged in: CKR_USER_ALREADY_LOGGED_IN counts.
both prelogin FAKE_PRELOGIN=1 -- "$DRIVER" "$MOD" one-slot
baseline prelogin
check "prelogin: the login returned CKR_USER_ALREADY_LOGGED_IN" \
	grep -qx 'fake1 C_Login session=100 slot=1 user=1 -> CKR_USER_ALREADY_LOGGED_IN' \
	"$T/prelogin.without.prog"
program_unchanged prelogin
exits_as "prelogin: CKR_USER_ALREADY_LOGGED_IN is logged out at exit" \
	prelogin.with <<EOF
$LOGOUT_100
EOF

# --- nothing logged in: no call at all --------------------------------
scenario no-login -- "$DRIVER" "$MOD" no-login
exits_as "no-login: no PKCS#11 call at exit" no-login.with </dev/null

both bad-pin -- "$DRIVER" "$MOD" bad-pin
baseline bad-pin
check "bad-pin: the login failed" \
	grep -qx 'fake1 C_Login session=100 slot=1 user=1 -> CKR_PIN_INCORRECT' \
	"$T/bad-pin.without.prog"
program_unchanged bad-pin
exits_as "bad-pin: a failed login is not recorded (no call at exit)" \
	bad-pin.with </dev/null

both context-specific -- "$DRIVER" "$MOD" context-specific
baseline context-specific
check "context-specific: the module accepted the CKU_CONTEXT_SPECIFIC login" \
	grep -qx 'fake1 C_Login session=100 slot=1 user=2 -> CKR_OK' \
	"$T/context-specific.without.prog"
program_unchanged context-specific
exits_as "context-specific: CKU_CONTEXT_SPECIFIC is ignored (no call at exit)" \
	context-specific.with </dev/null

# --- the program cleaned up itself: no extra call ---------------------
scenario self-logout -- "$DRIVER" "$MOD" self-logout
same "self-logout: the whole log is the same with and without the library" \
	"$T/self-logout.without.log" "$T/self-logout.with.log"

scenario logout-finalize -- "$DRIVER" "$MOD" logout-finalize
same "logout-finalize: the whole log is the same with and without the library" \
	"$T/logout-finalize.without.log" "$T/logout-finalize.with.log"

# Logged in, but the session closed before C_Finalize: the login ended
# with the last session, so the program's C_Finalize gets nothing extra.
scenario close-then-finalize -- "$DRIVER" "$MOD" close-then-finalize
same "close-then-finalize: the whole log is the same with and without the library" \
	"$T/close-then-finalize.without.log" "$T/close-then-finalize.with.log"

# --- the program's own C_Finalize while logged in ---------------------
# A module may end nothing on C_Finalize (yubihsm_pkcs11 keeps the
# device's session), and after it nothing is left for the exit handler:
# the logout the program left out goes right before its C_Finalize, once
# per logged-in slot, on a session open there.  Everything else the
# program sees is unchanged.

# finalize_scenario NAME [VAR=VALUE...] -- ARG...: both, baseline, and
# program_unchanged but for the program's calls (see logout_first).
finalize_scenario() {
	both "$@"
	baseline "$1"
	same "$1: exit status unchanged" "$T/$1.without.rc" "$T/$1.with.rc"
	same "$1: stdout unchanged" "$T/$1.without.out" "$T/$1.with.out"
	same "$1: stderr unchanged" "$T/$1.without.err" "$T/$1.with.err"
	check "$1: without the library the program finalized logged in, with no C_Logout" \
		sh -c "grep -qx 'fake1 C_Finalize -> CKR_OK' '$T/$1.without.prog' &&
			! grep -q 'C_Logout' '$T/$1.without.prog'"
}

# logout_first DESCRIPTION NAME: NAME.with.prog is NAME.without.prog with
# the lines on stdin, and nothing else, right before the first C_Finalize.
logout_first() {
	expect_inserted "$1" "$T/$2.without.prog" 'fake1 C_Finalize -> CKR_OK' \
		"$T/$2.with.prog"
}

finalize_scenario self-finalize -- "$DRIVER" "$MOD" self-finalize
logout_first "self-finalize: one C_Logout right before the program's C_Finalize" \
	self-finalize <<EOF
fake1 C_Logout session=100 slot=1 -> CKR_OK
EOF
exits_as "self-finalize: nothing is called at exit" self-finalize.with </dev/null

# Slot 1 has sessions 100 and 101 (logged in on 101), slot 2 has 102:
# one logout per slot, on the first session recorded there, in the order
# of the logins.
finalize_scenario two-slots-finalize FAKE_SLOTS=2 -- "$DRIVER" "$MOD" two-slots-finalize
logout_first "two-slots-finalize: one C_Logout per slot right before the program's C_Finalize" \
	two-slots-finalize <<EOF
fake1 C_Logout session=100 slot=1 -> CKR_OK
fake1 C_Logout session=102 slot=2 -> CKR_OK
EOF
exits_as "two-slots-finalize: nothing is called at exit" two-slots-finalize.with </dev/null

# A forked child's C_Finalize of the module its parent initialised and
# logged in to: the login is the parent's, so the child's C_Finalize
# reaches the module alone, and the parent is logged out at its exit.
scenario fork-finalize -- "$DRIVER" "$MOD" fork-finalize
sed -n '/^child finalize$/,/^child done$/p' "$T/fork-finalize.with.log" >"$T/fork-finalize.child"
expect "fork-finalize: a child's C_Finalize logs out nothing of its parent's" \
	"$T/fork-finalize.child" <<'EOF'
child finalize
fake1 C_Finalize -> CKR_OK
child exit
child done
EOF
exits_as "fork-finalize: the parent is logged out at its own exit" fork-finalize.with <<EOF
$LOGOUT_100
EOF

# A login after the program's own logout is recorded again.
scenario relogin -- "$DRIVER" "$MOD" login-logout-login
exits_as "relogin: a login after C_Logout is logged out at exit" \
	relogin.with <<EOF
$LOGOUT_100
EOF

# After C_Finalize and a new C_Initialize, only the new login counts, on
# the new session (101); session 100 no longer exists.
finalize_scenario finalize-relogin -- "$DRIVER" "$MOD" finalize-relogin
logout_first "finalize-relogin: one C_Logout right before the first C_Finalize" \
	finalize-relogin <<EOF
fake1 C_Logout session=100 slot=1 -> CKR_OK
EOF
exits_as "finalize-relogin: the login after re-initialising is logged out" \
	finalize-relogin.with <<'EOF'
fake1 C_Logout session=101 slot=1 -> CKR_OK
fake1 C_CloseSession session=101 slot=1 -> CKR_OK
EOF

# --- no session left open: a temporary one ----------------------------
scenario close-before-exit -- "$DRIVER" "$MOD" close-before-exit
exits_as "close-before-exit: logout through a temporary serial session" \
	close-before-exit.with <<'EOF'
fake1 C_OpenSession slot=1 flags=0x4 session=101 -> CKR_OK
fake1 C_Logout session=101 slot=1 -> CKR_OK
fake1 C_CloseSession session=101 slot=1 -> CKR_OK
EOF

# Session 100 (logged in) closed, 101 still open: the logout uses 101.
scenario close-login-session -- "$DRIVER" "$MOD" close-login-session
exits_as "close-login-session: logout on the session still open" \
	close-login-session.with <<'EOF'
fake1 C_Logout session=101 slot=1 -> CKR_OK
fake1 C_CloseSession session=101 slot=1 -> CKR_OK
EOF

scenario close-all -- "$DRIVER" "$MOD" close-all-before-exit
exits_as "close-all: after C_CloseAllSessions, logout through a temporary session" \
	close-all.with <<'EOF'
fake1 C_OpenSession slot=1 flags=0x4 session=102 -> CKR_OK
fake1 C_Logout session=102 slot=1 -> CKR_OK
fake1 C_CloseSession session=102 slot=1 -> CKR_OK
EOF

# A forked child inherits the exit handler and the record, but the logins
# are its parent's: it must make no call when it exits.
scenario fork -- "$DRIVER" "$MOD" fork
sed -n '/^child exit$/,/^child done$/p' "$T/fork.with.log" >"$T/fork.child"
printf 'child exit\nchild done\n' >"$T/expected"
same "fork: a child's exit makes no call for its parent's login" \
	"$T/expected" "$T/fork.child"
exits_as "fork: the parent is logged out at its own exit" fork.with <<EOF
$LOGOUT_100
EOF

# --- the 3.0 interface ------------------------------------------------
both login-3.0 -- "$DRIVER" "$MOD" login-3.0
baseline login-3.0
check "login-3.0: the program logged in with C_LoginUser" \
	grep -qx 'fake1 C_LoginUser session=100 slot=1 user=1 name=alice -> CKR_OK' \
	"$T/login-3.0.without.prog"
program_unchanged login-3.0
exits_as "login-3.0: a C_LoginUser login (C_GetInterface) is logged out" \
	login-3.0.with <<EOF
$LOGOUT_100
EOF

scenario login-3.0-list -- "$DRIVER" "$MOD" login-3.0-list
exits_as "login-3.0-list: a C_LoginUser login (C_GetInterfaceList) is logged out" \
	login-3.0-list.with <<EOF
$LOGOUT_100
EOF

# A 3.2 list (104 entries, allocated at exactly that size) is wrapped too.
scenario login-3.2-list FAKE_IFACE_VERSION=3.2 -- "$DRIVER" "$MOD" login-3.0-list
exits_as "login-3.2-list: a C_LoginUser login through a 3.2 list is logged out" \
	login-3.2-list.with <<EOF
$LOGOUT_100
EOF

# A version the library does not know passes through unwrapped: the
# program works as without the library, and nothing is called at exit.
scenario login-9.9-list FAKE_IFACE_VERSION=9.9 -- "$DRIVER" "$MOD" login-3.0-list
exits_as "login-9.9-list: an unknown list version is not wrapped: no call at exit" \
	login-9.9-list.with <<EOF
EOF
run login-9.9-debug lib FAKE_IFACE_VERSION=9.9 P11LOGOUT_DEBUG=1 -- \
	"$DRIVER" "$MOD" login-3.0-list
check "login-9.9-list: the debug log names the unknown version" \
	grep -q 'function list version 9.9 is unknown; passed through unwrapped' "$T/login-9.9-debug.err"

scenario login-if-2.40 -- "$DRIVER" "$MOD" login-if-2.40
exits_as "login-if-2.40: a login through the 2.40 interface is logged out" \
	login-if-2.40.with <<EOF
$LOGOUT_100
EOF

# The list's own C_GetFunctionList member is wrapped too.
scenario list-getter -- "$DRIVER" "$MOD" list-getter
exits_as "list-getter: a login through the list from the list's getter is logged out" \
	list-getter.with <<EOF
$LOGOUT_100
EOF

# --- two slots --------------------------------------------------------
# Slot 1 has sessions 100 and 101 (logged in on 101), slot 2 has 102.
scenario two-slots FAKE_SLOTS=2 -- "$DRIVER" "$MOD" two-slots
E=$T/two-slots.with.exit
s1=$(sed -n 's/^fake1 C_Logout session=\(10[01]\) slot=1 -> CKR_OK$/\1/p' "$E")
case $s1 in
100 | 101) ok "two-slots: slot 1 logged out on one of its sessions ($s1)" ;;
*) not_ok "two-slots: slot 1 logged out on one of its sessions"; show "$E" ;;
esac
expect_lines "two-slots: both slots logged out, every open session closed" "$E" <<EOF
fake1 C_Logout session=${s1:-100} slot=1 -> CKR_OK
fake1 C_CloseSession session=100 slot=1 -> CKR_OK
fake1 C_CloseSession session=101 slot=1 -> CKR_OK
fake1 C_Logout session=102 slot=2 -> CKR_OK
fake1 C_CloseSession session=102 slot=2 -> CKR_OK
EOF
# line N FILE TEXT: the line number of TEXT in FILE (0 if absent).
line() { grep -nxF "$2" "$1" | sed -n '1s/:.*//p' | grep . || echo 0; }
l1=$(line "$E" "fake1 C_Logout session=${s1:-100} slot=1 -> CKR_OK")
c100=$(line "$E" "fake1 C_CloseSession session=100 slot=1 -> CKR_OK")
c101=$(line "$E" "fake1 C_CloseSession session=101 slot=1 -> CKR_OK")
l2=$(line "$E" "fake1 C_Logout session=102 slot=2 -> CKR_OK")
c102=$(line "$E" "fake1 C_CloseSession session=102 slot=2 -> CKR_OK")
check "two-slots: slot 1 logged out before its sessions are closed" \
	test "$l1" -gt 0 -a "$l1" -lt "$c100" -a "$l1" -lt "$c101"
check "two-slots: slot 2 logged out before its session is closed" \
	test "$l2" -gt 0 -a "$l2" -lt "$c102"

# --- two modules ------------------------------------------------------
scenario two-modules -- "$DRIVER" "$MOD" two-modules "$MOD2"
E=$T/two-modules.with.exit
expect_lines "two-modules: each module logged out and its session closed" "$E" <<'EOF'
fake1 C_Logout session=100 slot=1 -> CKR_OK
fake1 C_CloseSession session=100 slot=1 -> CKR_OK
fake2 C_Logout session=100 slot=1 -> CKR_OK
fake2 C_CloseSession session=100 slot=1 -> CKR_OK
EOF
for m in fake1 fake2; do
	l=$(line "$E" "$m C_Logout session=100 slot=1 -> CKR_OK")
	c=$(line "$E" "$m C_CloseSession session=100 slot=1 -> CKR_OK")
	check "two-modules: $m logged out before its session is closed" \
		test "$l" -gt 0 -a "$l" -lt "$c"
done

# --- the module fails -------------------------------------------------
for v in FAKE_GETTER_FAIL FAKE_GETTER_NULL; do
	for sc in getter-fails getter-fails-3.0; do
		n=$sc.$v
		both "$n" "$v=1" -- "$DRIVER" "$MOD" "$sc"
		check "$n: the program reports its own error (status 3)" \
			test "$(cat "$T/$n.without.rc")" = 3
		check "$n: and says so on stderr" test -s "$T/$n.without.err"
		program_unchanged "$n"
		same "$n: the whole log is the same with and without the library" \
			"$T/$n.without.log" "$T/$n.with.log"
	done
done

for st in 0 9; do
	n=logout-fails.$st
	both "$n" FAKE_LOGOUT_FAIL=1 FAKE_DRIVER_EXIT=$st -- \
		"$DRIVER" "$MOD" logout-fails
	check "$n: the program exits with $st" \
		test "$(cat "$T/$n.without.rc")" = "$st"
	check "$n: without the library nothing is called at exit" \
		test ! -s "$T/$n.without.exit"
	program_unchanged "$n"
	check "$n: the library tried C_Logout, which failed" \
		grep -qx 'fake1 C_Logout session=100 slot=1 -> CKR_DEVICE_ERROR' \
		"$T/$n.with.exit"
done

# --- no read past the end of the module's lists -----------------------
# The fake module allocates each list at exactly its standard size, so
# valgrind sees a read past the end of the 68-entry 2.x list.
# Not in a sanitizer build (the sanitizer CI's ASan step): valgrind cannot
# run ASan-instrumented code; the other builds run these checks.
if [ -n "${P11L_PRELOAD_PREFIX:-}" ]; then
	diag "sanitizer build (P11L_PRELOAD_PREFIX set): valgrind checks not run"
elif [ -n "${P11L_EMULATED:-}" ]; then
	diag "cross build under $P11L_EMULATED: the build machine's valgrind cannot run it; valgrind checks not run"
elif command -v valgrind >/dev/null 2>&1; then
	for sc in one-slot login-if-2.40 login-3.0 list-getter; do
		n=valgrind.$sc
		run "$n" lib -- valgrind -q --error-exitcode=99 \
			"$DRIVER" "$MOD" "$sc"
		if [ "$(cat "$T/$n.rc")" = 0 ] && [ ! -s "$T/$n.err" ]; then
			ok "$n: no memory error under valgrind with the library"
		else
			not_ok "$n: no memory error under valgrind with the library"
			show "$T/$n.err"
		fi
		exits_as "$n: logged out at exit under valgrind" "$n" <<EOF
$LOGOUT_100
EOF
	done
	# The 3.2 list (104 entries) and an unknown version (92 entries,
	# passed through): neither copy may read past the module's list.
	for v in 3.2 9.9; do
		n=valgrind.list-$v
		run "$n" lib FAKE_IFACE_VERSION=$v -- valgrind -q --error-exitcode=99 \
			"$DRIVER" "$MOD" login-3.0-list
		if [ "$(cat "$T/$n.rc")" = 0 ] && [ ! -s "$T/$n.err" ]; then
			ok "$n: no memory error under valgrind with the library"
		else
			not_ok "$n: no memory error under valgrind with the library"
			show "$T/$n.err"
		fi
	done
else
	diag "valgrind not installed: list size checks not run"
fi

# --- the debug trace --------------------------------------------------
check "one-slot: silent without P11LOGOUT_DEBUG" test ! -s "$T/one-slot.with.err"
run debug lib P11LOGOUT_DEBUG=1 -- "$DRIVER" "$MOD" one-slot
same "debug: exit status unchanged" "$T/one-slot.without.rc" "$T/debug.rc"
same "debug: stdout unchanged" "$T/one-slot.without.out" "$T/debug.out"
same "debug: the calls the module received unchanged" \
	"$T/one-slot.with.log" "$T/debug.log"
check "debug: stderr has a trace" test -s "$T/debug.err"
if grep -qv '^libp11logout:' "$T/debug.err"; then
	not_ok "debug: every stderr line starts with libp11logout:"
	show "$T/debug.err"
else
	ok "debug: every stderr line starts with libp11logout:"
fi
grep 'C_Logout' "$T/debug.err" | grep 'CKR_OK' >"$T/debug.logout"
check "debug: a line names C_Logout and CKR_OK" test -s "$T/debug.logout"
check "debug: that line names the module path" \
	grep -qF "$MOD" "$T/debug.logout"
check "debug: that line names slot 1" \
	grep -Eq 'slot[^0-9]{0,3}1([^0-9]|$)' "$T/debug.logout"
check "debug: the PIN never appears on stderr" \
	test "$(grep -cF "$PIN" "$T/debug.err")" = 0

run debug-fail lib P11LOGOUT_DEBUG=1 FAKE_LOGOUT_FAIL=1 -- \
	"$DRIVER" "$MOD" logout-fails
same "debug-fail: exit status unchanged" "$T/logout-fails.0.without.rc" \
	"$T/debug-fail.rc"
same "debug-fail: stdout unchanged" "$T/logout-fails.0.without.out" \
	"$T/debug-fail.out"
check "debug-fail: the trace names C_Logout and CKR_DEVICE_ERROR" \
	grep -q 'C_Logout.*CKR_DEVICE_ERROR\|CKR_DEVICE_ERROR.*C_Logout' \
	"$T/debug-fail.err"

run debug-3.0 lib P11LOGOUT_DEBUG=1 -- "$DRIVER" "$MOD" login-3.0
check "debug-3.0: the PIN never appears on stderr" \
	test "$(grep -cF "$PIN" "$T/debug-3.0.err")" = 0
check "debug-3.0: the trace names C_Logout and CKR_OK" \
	grep -q 'C_Logout.*CKR_OK' "$T/debug-3.0.err"

done_testing
