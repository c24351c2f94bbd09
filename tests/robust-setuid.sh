#!/bin/sh
# Secure execution: in a setgid program (AT_SECURE=1) P11LOGOUT_DEBUG and
# P11LOGOUT_TIMEOUT are ignored: no debug output, no warning, and the
# default bound.  secure-prog is linked with the library (a setgid program
# ignores LD_PRELOAD paths); a setgid copy of it, of a group that is not
# ours, gets egid != rgid, hence AT_SECURE, which it prints.
. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/robust-lib.sh"

PROG=$P11L_TEST_BUILDDIR/secure-prog
[ -x "$PROG" ] || bail_out "missing $PROG"
[ "${P11L_VALGRIND:-0}" = 1 ] && skip_all "valgrind cannot run a setgid program as such"

# A group other than our real one that we may give a file.
grp=
for g in nogroup nobody daemon; do
	gid=$(getent group "$g" | cut -d: -f3)
	[ -n "$gid" ] && [ "$gid" != "$(id -rg)" ] && { grp=$g; break; }
done
[ -n "$grp" ] || skip_all "no group other than our own to make a setgid copy with"

# A place where the setgid bit takes effect (not a nosuid mount).
sg=
for d in "$T" "$P11L_TEST_BUILDDIR"; do
	cand=$d/secure-prog-sg.$$
	cp "$PROG" "$cand" 2>/dev/null || continue
	if chgrp "$grp" "$cand" 2>/dev/null && chmod 2755 "$cand" 2>/dev/null &&
	   [ -g "$cand" ] &&
	   [ "$("$cand" /nonexistent 2>/dev/null | sed -n 's/^AT_SECURE=//p')" = 1 ]; then
		sg=$cand
		break
	fi
	rm -f "$cand"
done
[ -n "$sg" ] || skip_all "a setgid copy does not run with AT_SECURE=1 here (not root, or nosuid mount)"
[ "$sg" = "$T/${sg##*/}" ] || trap 'rm -rf "$P11L_TMP" "$sg"' EXIT
cp "$PROG" "$T/secure-prog-plain"

# LeakSanitizer cannot trace a non-dumpable (setgid) process.
sgenv=
[ -n "${ASAN_OPTIONS+x}" ] && sgenv="ASAN_OPTIONS=${ASAN_OPTIONS}:detect_leaks=0"

# The control: the same program, not setgid, with the same settings.
run plain "" P11LOGOUT_DEBUG=1 P11LOGOUT_TIMEOUT=bad -- "$T/secure-prog-plain" "$ODD"
check "control: not setgid: AT_SECURE=0" grep -qx 'AT_SECURE=0' "$T/plain.out"
check "control: the getter is wrapped (the library is loaded)" \
	grep -qx 'getter wrapped by libp11logout: yes' "$T/plain.out"
check "control: not setgid: a debug trace" grep -q '^libp11logout: .*C_Logout' "$T/plain.err"
check "control: not setgid: one warning about P11LOGOUT_TIMEOUT" \
	test "$(grep -c 'P11LOGOUT_TIMEOUT=' "$T/plain.err")" = 1

run sg "" P11LOGOUT_DEBUG=1 P11LOGOUT_TIMEOUT=bad $sgenv -- "$sg" "$ODD"
check "setgid: AT_SECURE=1 in the process" grep -qx 'AT_SECURE=1' "$T/sg.out"
check "setgid: the getter is wrapped (the library is loaded)" \
	grep -qx 'getter wrapped by libp11logout: yes' "$T/sg.out"
check "setgid: exit status 0" test "$(rc sg)" = 0
quiet sg
expect "setgid: the library still logs out at exit" "$T/sg.exit" <<EOF2
odd C_Logout(slot 1) -> CKR_OK
odd C_CloseSession(slot 1) -> CKR_OK
EOF2

# P11LOGOUT_TIMEOUT=1 is ignored too: a stuck logout gets the default 5 s.
run sg-stuck "" P11LOGOUT_DEBUG=1 P11LOGOUT_TIMEOUT=1 ODD_MODE=logout-hang $sgenv -- "$sg" "$ODD"
check "setgid: P11LOGOUT_TIMEOUT=1 ignored: the default bound applies (waited $(ms sg-stuck) ms >= 4500)" \
	test "$(ms sg-stuck)" -ge 4500
within "setgid: ... and ended by it" sg-stuck 6000
check "setgid stuck: exit status 0" test "$(rc sg-stuck)" = 0
quiet sg-stuck

done_testing
