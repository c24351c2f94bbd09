#!/bin/sh
# P11LOGOUT_LOG=syslog: the library's lines go to /dev/log as datagrams
# "<38>libp11logout[PID]: ..." (LOG_AUTH | LOG_INFO) and nothing goes to
# stderr.  A test listener (python3) receives them, bound in the test
# directory and seen as /dev/log in a private mount namespace: mounted over
# the host's /dev/log, or, where there is none, as the log of a /dev of the
# test's own.  Nothing is ever created in the host's /dev: without a mount
# namespace (root and unshare --mount) the test is skipped.
. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/settings-lib.sh"

command -v python3 >/dev/null 2>&1 || skip_all "python3 is needed for the /dev/log listener"
python3 -c 'import socket; socket.AF_UNIX' 2>/dev/null || skip_all "python3 has no AF_UNIX sockets"

cat >"$T/listen.py" <<'EOF'
import os, socket, sys
path, out, ready = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o666)
s.settimeout(300)
open(ready, "w").close()
with open(out, "ab", buffering=0) as f:
    while True:
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        f.write(d.replace(b"\n", b"\\n") + b"\n")
EOF
cat >"$T/send.py" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(sys.argv[2].encode(), sys.argv[1])
EOF

# Without any listener first, while nothing is at /dev/log (or in a
# namespace where /dev/log is an empty file): the program is unaffected.
if [ ! -e /dev/log ]; then
	run none0 "" -- "$DRIVER" "$MOD" one-slot
	run none lib P11LOGOUT_LOG=syslog P11LOGOUT_DEBUG=1 -- "$DRIVER" "$MOD" one-slot
	same "no /dev/log: stdout as without the library" "$T/none0.out" "$T/none.out"
	check "no /dev/log: nothing on stderr, status 0" test ! -s "$T/none.err" -a "$(rc none)" = 0
	check "no /dev/log: still logged out at exit" \
		grep -qx 'fake1 C_Logout session=100 slot=1 -> CKR_OK' "$T/none.exit"
fi

if [ "$(id -u)" != 0 ] || ! unshare --mount true 2>/dev/null; then
	why="no private mount namespace (root and unshare --mount), and this test never creates /dev/log on the host"
	# After the checks without /dev/log (a chroot has none), the
	# listener's checks are one skipped result; with no result yet, the
	# whole test is skipped.
	[ "$P11L_TAP_N" -gt 0 ] || skip_all "$why"
	ok "# SKIP the /dev/log listener's checks: $why"
	done_testing
fi
mkdir "$T/dev"
for d in null zero random urandom; do : >"$T/dev/$d"; done
SOCK=$T/dev/log
trap 'kill "$lpid" 2>/dev/null; rm -rf "$P11L_TMP"' EXIT
python3 "$T/listen.py" "$SOCK" "$T/dgrams" "$T/ready" 2>"$T/listen.err" &
lpid=$!
i=0
while [ ! -e "$T/ready" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
[ -e "$T/ready" ] || { cat "$T/listen.err" >&2; bail_out "the listener did not start"; }

# logged TAG VAR=VALUE...: $LOGGED_CMD (default: the driver's one-slot
# scenario) with the library, in a mount namespace where /dev/log is the
# listener; its pid in TAG.pid, its datagrams (only those) in TAG.dg.
nmark=0
LOGGED_CMD="$DRIVER $MOD one-slot"
logged() {
	ltag=$1
	shift
	# shellcheck disable=SC2086
	run "$ltag" "" "$@" -- unshare --mount sh -c \
		'if [ -e /dev/log ]; then mount --bind "$1/log" /dev/log; else
			for d in null zero random urandom; do mount --bind "/dev/$d" "$1/$d" || exit 1; done
			mount --rbind "$1" /dev; fi || exit 1
		shift && echo $$ >"$1" && shift && exec env LD_PRELOAD="$P11L_LIB" "$@"' \
		sh "$T/dev" "$T/$ltag.pid" $LOGGED_CMD
	# A marker after the run: once it is in, so is everything before it.
	nmark=$((nmark + 1))
	python3 "$T/send.py" "$SOCK" "test-marker-$nmark"
	i=0
	while ! grep -qx "test-marker-$nmark" "$T/dgrams" && [ $i -lt 100 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	pid=$(cat "$T/$ltag.pid")
	grep -F "libp11logout[$pid]: " "$T/dgrams" >"$T/$ltag.dg"
}
export P11L_LIB

logged sys P11LOGOUT_LOG=syslog P11LOGOUT_DEBUG=1
check "syslog: the program ran (status 0)" test "$(rc sys)" = 0
check "syslog: nothing on stderr" test ! -s "$T/sys.err"
check "syslog: datagrams arrived at /dev/log ($(wc -l <"$T/sys.dg"))" test -s "$T/sys.dg"
check "syslog: every datagram of the library is '<38>libp11logout[PID]: ...' with the program's pid" \
	sh -c "! grep -v '^<38>libp11logout\\[$(cat "$T/sys.pid")\\]: [^ ]' '$T/sys.dg'"
check "syslog: no other datagram names the library" \
	test "$(grep -c libp11logout "$T/dgrams")" = "$(cat "$T"/*.dg | wc -l)"
settings_line 1 5 0 logout syslog '*' - >"$T/want"
sed -n 's/^<38>libp11logout\[[0-9]*\]: \(libp11logout .*: debug=.*\)$/\1/p' "$T/sys.dg" >"$T/got"
same "syslog: the banner says log=syslog" "$T/want" "$T/got"
check "syslog: the login is reported" grep -q 'slot 1: login as user recorded' "$T/sys.dg"
check "syslog: the logout at exit is reported" \
	grep -q 'exit: .*fake-module.so: slot 1: C_Logout(session 100) -> CKR_OK' "$T/sys.dg"
check "syslog: and the module was logged out" \
	grep -qx 'fake1 C_Logout session=100 slot=1 -> CKR_OK' "$T/sys.exit"
check "syslog: no line holds the PIN" sh -c "! grep -q '$PIN' '$T/dgrams'"

# The same lines as on stderr in debug mode (but for the banner's log=).
run err lib P11LOGOUT_DEBUG=1 -- "$DRIVER" "$MOD" one-slot
sed 's/^libp11logout: //; s/ log=stderr / log=syslog /' "$T/err.err" >"$T/err.lines"
sed 's/^<38>libp11logout\[[0-9]*\]: //' "$T/sys.dg" >"$T/sys.lines"
same "syslog: the same lines as P11LOGOUT_DEBUG=1 writes to stderr" "$T/err.lines" "$T/sys.lines"

# From the configuration file.
printf 'log = syslog\ndebug = 1\n' >"$T/sys.conf"
logged file P11LOGOUT_CONFIG="$T/sys.conf"
check "'log = syslog' in the file: nothing on stderr" test ! -s "$T/file.err"
check "'log = syslog' in the file: the logout reported to syslog" \
	grep -q 'C_Logout(session 100) -> CKR_OK' "$T/file.dg"

# P11LOGOUT_LOG=stderr over the file: back on stderr, nothing to syslog.
logged back P11LOGOUT_CONFIG="$T/sys.conf" P11LOGOUT_LOG=stderr
check "P11LOGOUT_LOG=stderr over the file: lines on stderr" \
	grep -q '^libp11logout: .*C_Logout(session 100) -> CKR_OK' "$T/back.err"
check "P11LOGOUT_LOG=stderr over the file: no datagram" test ! -s "$T/back.dg"

# syslog without debug: still nothing on stderr.
logged quiet P11LOGOUT_LOG=syslog
check "syslog without debug: nothing on stderr" test ! -s "$T/quiet.err"
check "syslog without debug: still logged out" \
	grep -qx 'fake1 C_Logout session=100 slot=1 -> CKR_OK' "$T/quiet.exit"
diag "syslog without debug: $(wc -l <"$T/quiet.dg") datagram(s)"

# A daemon closes every descriptor, the library's syslog socket among
# them, and gets the same numbers for a socket pair of its own: the
# library's next line still goes to /dev/log, never to the daemon's socket.
LOGGED_CMD="$P11L_TEST_BUILDDIR/syslog-reuse $MOD $PIN"
logged reuse P11LOGOUT_LOG=syslog P11LOGOUT_DEBUG=1
check "descriptor reused by the program: nothing of ours on its own socket" \
	grep -qx 'own socket: clean' "$T/reuse.out"
check "descriptor reused by the program: status 0" test "$(rc reuse)" = 0
check "descriptor reused by the program: the second login still reported to /dev/log" \
	test "$(grep -c 'slot 1: login as user recorded' "$T/reuse.dg")" = 2

done_testing
