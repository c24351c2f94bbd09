#!/bin/sh
# The configuration file: "key = value" lines, '#' comments; the P11LOGOUT_*
# variables win over it; a bad line gives exactly one warning and is
# skipped, the rest applies; a named file that cannot be read gives one
# warning and the defaults.  The debug banner shows the settings in effect.
# The file is read only when a module is first seen, and in a setgid
# program only the default file is read, and only when root owns it and no
# one else may write it.
. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/settings-lib.sh"

CR=$(printf '\r')
TAB=$(printf '\t')

# --- every key, with comments, blank lines, spaces, tabs and CRLF ---
cat >"$T/full.conf" <<EOF
# libp11logout settings
${TAB}# an indented comment

debug = 1
timeout=7
  wait   =   3  $CR
mode${TAB}=${TAB}close
log = stderr
modules = fake-module.so:other*.so
module = /opt/hsm/lib/real-pkcs11.so
signals = HUP, SIGTERM
max_sessions = 16
EOF
run full lib P11LOGOUT_CONFIG="$T/full.conf" -- "$DRIVER" "$MOD" no-login
banner "$T/full.err" >"$T/full.banner"
settings_line 1 7 3 close stderr 'fake-module.so:other*.so' /opt/hsm/lib/real-pkcs11.so TERM,HUP 16 >"$T/want"
same "every key from the file shows in the banner" "$T/want" "$T/full.banner"
check "no warning (no line names the file)" \
	test "$(grep -c -F "$T/full.conf" "$T/full.err")" = 0
check "exactly one banner line" test "$(grep -c ': debug=' "$T/full.err")" = 1
expect "the file's mode applies (close: the open session is closed at exit)" \
	"$T/full.exit" <<'EOF'
fake1 C_CloseSession session=100 slot=1 -> CKR_OK
EOF

# Last line without a newline; a key given twice: the last one counts.
printf 'debug = yes\nwait = 2\nwait = 9' >"$T/last.conf"
run last lib P11LOGOUT_CONFIG="$T/last.conf" -- "$DRIVER" "$MOD" no-login
settings_line 1 5 9 logout stderr '*' - >"$T/want"
banner "$T/last.err" >"$T/got"
same "a key given twice: the last wins; a last line without newline counts" "$T/want" "$T/got"

# --- variables win over the file ---
run over lib P11LOGOUT_CONFIG="$T/full.conf" P11LOGOUT_TIMEOUT=9 \
	P11LOGOUT_MODE=finalize P11LOGOUT_MODULES=x.so P11LOGOUT_MODULE=/m.so -- \
	"$DRIVER" "$MOD" no-login
settings_line 1 9 3 finalize stderr x.so /m.so TERM,HUP 16 >"$T/want"
banner "$T/over.err" >"$T/got"
same "variables win over the file, the rest comes from the file" "$T/want" "$T/got"
run over0 lib P11LOGOUT_CONFIG="$T/full.conf" P11LOGOUT_DEBUG=0 -- "$DRIVER" "$MOD" no-login
check "P11LOGOUT_DEBUG=0 over 'debug = 1': silent" test ! -s "$T/over0.err"

# one_warning DESC FILE PREFIX: FILE is one line, which starts with PREFIX.
one_warning() {
	if [ "$(wc -l <"$2")" = 1 ] &&
		awk -v p="$3" 'index($0, p) == 1 { f = 1 } END { exit !f }' "$2"; then
		ok "$1"
	else
		not_ok "$1"
		show "$2"
	fi
}

# --- a bad line: one warning, skipped, the rest applies ---
# bad_line NAME LINE: LINE as line 3 of a file that also sets wait = 4 and
# mode = close.
bad_line() {
	name=$1 line=$2
	conf=$T/bad-$name.conf
	printf '# bad line test\nwait = 4\n%s\nmode = close\n' "$line" >"$conf"
	run "bad-$name" lib P11LOGOUT_CONFIG="$conf" -- "$DRIVER" "$MOD" no-login
	one_warning "bad line ($name): exactly one warning line on stderr, naming file:line" \
		"$T/bad-$name.err" "libp11logout: $conf:3: "
	expect "bad line ($name): the rest applies (mode close)" "$T/bad-$name.exit" <<'EOF'
fake1 C_CloseSession session=100 slot=1 -> CKR_OK
EOF
	run "bad-$name-d" lib P11LOGOUT_CONFIG="$conf" P11LOGOUT_DEBUG=1 -- "$DRIVER" "$MOD" no-login
	settings_line 1 5 4 close stderr '*' - >"$T/want"
	banner "$T/bad-$name-d.err" >"$T/got"
	same "bad line ($name): banner with the rest of the file and the default for the bad line" "$T/want" "$T/got"
	check "bad line ($name), debug: still one warning" \
		test "$(grep -c -F "$conf" "$T/bad-$name-d.err")" = 1
}
bad_line bad-seconds 'timeout = soon'
bad_line too-many-seconds 'timeout = 3601'
bad_line bad-bool 'debug = maybe'
bad_line bad-mode 'mode = Finalize'
bad_line bad-log 'log = file'
bad_line empty-value 'modules ='
bad_line no-equals 'just some words'
bad_line unknown-key 'colour = blue'
bad_line inline-comment 'timeout = 5 # seconds'

# Two bad lines: two warnings, one each.
printf 'timeout = x\nwait = y\nmode = close\n' >"$T/two.conf"
run two lib P11LOGOUT_CONFIG="$T/two.conf" -- "$DRIVER" "$MOD" no-login
check "two bad lines: two warning lines" test "$(wc -l <"$T/two.err")" = 2
check "two bad lines: lines 1 and 2 named" \
	sh -c "grep -q -F '$T/two.conf:1:' '$T/two.err' && grep -q -F '$T/two.conf:2:' '$T/two.err'"

# --- a named file that cannot be read: one warning, the defaults ---
for kind in missing directory; do
	case $kind in
	missing) conf=$T/no-such.conf ;;
	directory) conf=$T/conf.d; mkdir -p "$conf" ;;
	esac
	run "un-$kind" lib P11LOGOUT_CONFIG="$conf" P11LOGOUT_MODE=close -- "$DRIVER" "$MOD" no-login
	one_warning "unreadable file ($kind): exactly one warning line, naming it" \
		"$T/un-$kind.err" "libp11logout: $conf: "
	expect "unreadable file ($kind): the variables still apply" "$T/un-$kind.exit" <<'EOF'
fake1 C_CloseSession session=100 slot=1 -> CKR_OK
EOF
	run "un-$kind-d" lib P11LOGOUT_CONFIG="$conf" P11LOGOUT_DEBUG=1 -- "$DRIVER" "$MOD" no-login
	settings_line 1 5 0 logout stderr '*' - >"$T/want"
	banner "$T/un-$kind-d.err" >"$T/got"
	same "unreadable file ($kind): defaults in the banner" "$T/want" "$T/got"
done

# --- read once, and only when a module is first seen ---
if command -v strace >/dev/null 2>&1 &&
	strace -f -o /dev/null -e trace=openat /bin/true >/dev/null 2>&1; then
	cp "$T/full.conf" "$T/watch.conf"
	# openat calls naming the file, over every process of the command.
	opens() {
		grep -c -F "\"$T/watch.conf\"" "$T/$1.strace" || true
	}
	run st-true "" -- strace -f -qq -o "$T/st-true.strace" -e trace=openat \
		env LD_PRELOAD="$(p11l_preload)" $P11L_ASAN_NOLEAKS P11LOGOUT_CONFIG="$T/watch.conf" /bin/true
	check "strace ran /bin/true (status 0)" test "$(rc st-true)" = 0
	check "the library was loaded into /bin/true" \
		grep -q -F 'libp11logout.so' "$T/st-true.strace"
	check "a process with no PKCS#11 (/bin/true) never opens the file" \
		test "$(opens st-true)" = 0
	run st-sh "" -- strace -f -qq -o "$T/st-sh.strace" -e trace=openat \
		env LD_PRELOAD="$(p11l_preload)" $P11L_ASAN_NOLEAKS P11LOGOUT_CONFIG="$T/watch.conf" \
		sh -c 'echo hello; true'
	check "nor does a shell that runs commands" test "$(opens st-sh)" = 0
	run st-two "" -- strace -f -qq -o "$T/st-two.strace" -e trace=openat \
		env LD_PRELOAD="$(p11l_preload)" $P11L_ASAN_NOLEAKS P11LOGOUT_CONFIG="$T/watch.conf" \
		"$DRIVER" "$MOD" two-modules "$MOD2"
	check "a program with two modules opens it exactly once (got $(opens st-two))" \
		test "$(opens st-two)" = 1
else
	for i in 1 2 3 4 5; do ok "# SKIP strace is not available or not permitted"; done
fi

# --- setgid: variables and P11LOGOUT_CONFIG ignored, the default file
# --- only if root owns it and only root may write it
default_conf=$(env -u P11LOGOUT_CONFIG "$P11L_RUN" --show-config | sed -n 's/^configuration file: //p')
sysconf=$(dirname "$default_conf")
[ -e "$default_conf" ] && before=yes || before=no
PROG=$P11L_TEST_BUILDDIR/secure-prog
why=
grp=
if [ ! -x "$PROG" ]; then
	why="$PROG is not built"
elif [ "$(id -u)" != 0 ]; then
	why="not root: cannot mount over $sysconf in a private namespace"
elif [ ! -d "$sysconf" ]; then
	why="$sysconf does not exist (nothing to mount over)"
elif ! unshare --mount true 2>/dev/null; then
	why="unshare --mount is not permitted here"
else
	for g in nogroup nobody daemon; do
		gid=$(getent group "$g" | cut -d: -f3)
		[ -n "$gid" ] && [ "$gid" != "$(id -rg)" ] && { grp=$g; break; }
	done
	[ -n "$grp" ] || why="no group other than our own for a setgid copy"
fi
sg=
if [ -z "$why" ]; then
	cp "$PROG" "$T/secure-prog-sg" && chgrp "$grp" "$T/secure-prog-sg" &&
		chmod 2755 "$T/secure-prog-sg" &&
		[ "$("$T/secure-prog-sg" /nonexistent 2>/dev/null | sed -n 's/^AT_SECURE=//p')" = 1 ] &&
		sg=$T/secure-prog-sg
	[ -n "$sg" ] || why="a setgid copy in $T does not run with AT_SECURE=1 (nosuid?)"
	cp "$PROG" "$T/secure-prog-plain"
fi
if [ -n "$why" ]; then
	for i in $(seq 9); do ok "# SKIP setgid and the default file: $why"; done
else
	# in_ns TAG CONF-MODE CONF-OWNER [VAR=VALUE...] -- COMMAND...: runs
	# COMMAND in a private mount namespace where $sysconf is a directory
	# holding only libp11logout.conf (a copy of $T/default.conf with that
	# mode and owner).  Nothing outside the namespace sees it.
	in_ns() {
		ntag=$1 nmode=$2 nowner=$3
		shift 3
		rm -rf "$T/etc-$ntag"
		mkdir "$T/etc-$ntag"
		cp "$T/default.conf" "$T/etc-$ntag/libp11logout.conf"
		chmod "$nmode" "$T/etc-$ntag/libp11logout.conf"
		chown "$nowner" "$T/etc-$ntag/libp11logout.conf"
		nvars=FAKE_PIN=1234
		while [ $# -gt 0 ] && [ "$1" != -- ]; do
			nvars="$nvars $(p11l_quote "$1")"
			shift
		done
		shift
		eval "run \"\$ntag\" '' $nvars -- unshare --mount sh -c \
			'mount --bind \"\$1\" \"\$2\" && shift 2 && exec \"\$@\"' sh \
			\"\$T/etc-\$ntag\" \"\$sysconf\" \"\$@\""
	}
	printf 'debug = 1\nwait = 7\nmode = close\n' >"$T/default.conf"
	printf 'debug = 1\nwait = 9\n' >"$T/named.conf"

	# Control: not setgid, no P11LOGOUT_CONFIG: the default file is read.
	in_ns plain 0644 0:0 -u P11LOGOUT_CONFIG -- "$T/secure-prog-plain" "$MOD"
	settings_line 1 5 7 close stderr '*' - >"$T/want.default"
	banner "$T/plain.err" >"$T/got"
	same "not setgid: the default file $default_conf is read (in the namespace)" \
		"$T/want.default" "$T/got"
	in_ns sg-root 0644 0:0 P11LOGOUT_CONFIG="$T/named.conf" P11LOGOUT_WAIT=3 \
		P11LOGOUT_MODE=logout -- "$sg" "$MOD"
	check "setgid: AT_SECURE=1" grep -qx 'AT_SECURE=1' "$T/sg-root.out"
	banner "$T/sg-root.err" >"$T/got"
	same "setgid: P11LOGOUT_CONFIG and the variables ignored, the root-owned default file read" \
		"$T/want.default" "$T/got"
	expect "setgid: logged in, and logged out at exit" "$T/sg-root.exit" <<'EOF'
fake1 C_Logout session=100 slot=1 -> CKR_OK
fake1 C_CloseSession session=100 slot=1 -> CKR_OK
EOF
	check "setgid: no warning (nothing names a file or a variable)" \
		test "$(grep -c -F -e "$T/named.conf" -e "$default_conf" -e P11LOGOUT_ "$T/sg-root.err")" = 0
	for bad in group-writable:0664:0:0 other-writable:0646:0:0 not-root:0644:65534:0; do
		label=${bad%%:*} rest=${bad#*:}
		mode=${rest%%:*} owner=${rest#*:}
		in_ns "sg-$label" "$mode" "$owner" P11LOGOUT_CONFIG="$T/named.conf" -- "$sg" "$MOD"
		one_warning "setgid, default file $label: one warning, file ignored (no debug banner)" \
			"$T/sg-$label.err" "libp11logout: $default_conf: "
	done
	# Not setgid: the same group-writable file is simply read.
	in_ns plain-gw 0664 0:0 -u P11LOGOUT_CONFIG -- "$T/secure-prog-plain" "$MOD"
	banner "$T/plain-gw.err" >"$T/got"
	same "not setgid: a group-writable default file is read" \
		"$T/want.default" "$T/got"
	[ -e "$default_conf" ] && after=yes || after=no
	check "the namespace left $default_conf as it was (exists: $before)" \
		test "$before" = "$after"
fi

done_testing
