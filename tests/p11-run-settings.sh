#!/bin/sh
# p11-run: --wait, --timeout, --mode, --modules, --log and --config set the
# P11LOGOUT_* variables and refuse bad values (status 2); --show-config
# prints the same settings line as the library's debug banner (compared
# for several combinations of variables, file and options, so that the two
# cannot drift apart); and p11-run called through a symlink named after a
# command runs the real command of that name from PATH, preloaded.
. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/settings-lib.sh"
RUN=$P11L_RUN
unset P11LOGOUT_DEBUG P11LOGOUT_TIMEOUT P11LOGOUT_WAIT P11LOGOUT_MODE \
	P11LOGOUT_LOG P11LOGOUT_MODULES P11LOGOUT_MODULE LD_PRELOAD
P11LOGOUT_CONFIG=$T/empty.conf
export P11LOGOUT_CONFIG

# --- options set the variables ---
# sets OPTION VALUE VARIABLE
sets() {
	got=$("$RUN" "$1" "$2" sh -c "printf '%s' \"\$$3\"")
	check "$1 $2 sets $3=$2 (got '$got')" test "$got" = "$2"
}
sets --wait 15 P11LOGOUT_WAIT
sets --wait 0 P11LOGOUT_WAIT
sets --timeout 3600 P11LOGOUT_TIMEOUT
sets --timeout 0 P11LOGOUT_TIMEOUT
sets --mode logout P11LOGOUT_MODE
sets --mode close P11LOGOUT_MODE
sets --mode finalize P11LOGOUT_MODE
sets --modules 'yubihsm_pkcs11.so:/opt/x/*.so' P11LOGOUT_MODULES
sets --log syslog P11LOGOUT_LOG
sets --log stderr P11LOGOUT_LOG
sets --config "$T/empty.conf" P11LOGOUT_CONFIG
sets --signals TERM,INT,HUP P11LOGOUT_SIGNALS
got=$("$RUN" --wait 4 --mode close --timeout 2 sh -c 'echo "$P11LOGOUT_WAIT $P11LOGOUT_MODE $P11LOGOUT_TIMEOUT $LD_PRELOAD"')
check "several options at once, and the library preloaded (got '$got')" \
	test "$got" = "4 close 2 $P11L_LIB"

# --- bad values: status 2, a message, the command not run ---
# refuses DESC ARG...
refuses() {
	d=$1
	shift
	rm -f "$T/ran"
	"$RUN" "$@" sh -c ": >'$T/ran'" >"$T/refuse.out" 2>"$T/refuse.err"
	r=$?
	if [ $r = 2 ] && [ ! -e "$T/ran" ] && grep -q '^p11-run: ' "$T/refuse.err"; then
		ok "refuses $d: status 2, a message, the command not run"
	else
		not_ok "refuses $d: status 2, a message, the command not run (status $r)"
		show "$T/refuse.err"
	fi
}
refuses "--wait abc" --wait abc
refuses "--wait -1" --wait -1
refuses "--wait 3601" --wait 3601
refuses "--wait 1.5" --wait 1.5
refuses "--wait ''" --wait ''
refuses "--timeout soon" --timeout soon
refuses "--timeout 99999" --timeout 99999
refuses "--mode Close" --mode Close
refuses "--mode ''" --mode ''
refuses "--log file" --log file
refuses "--modules ''" --modules ''
refuses "--config of a missing file" --config "$T/no-such.conf"
refuses "--signals KILL" --signals KILL
refuses "--signals term" --signals term
for o in --wait --timeout --mode --modules --log --config --signals; do
	"$RUN" "$o" >/dev/null 2>"$T/refuse.err"
	check "$o without a value: status 2" test $? = 2
done

# --- --show-config and the library's banner: the same line ---
# compare DESC [VAR=VALUE...] -- [P11-RUN OPTIONS...]: the first line of
# "p11-run OPTIONS --show-config" and the banner of the library in
# "p11-run OPTIONS -- fake-driver" (with P11LOGOUT_DEBUG=1 unless given,
# or unless the first VAR=VALUE is the word nodebug).
compare() {
	d=$1
	shift
	cvars="P11LOGOUT_DEBUG=1"
	if [ "$1" = nodebug ]; then
		cvars=
		shift
	fi
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		cvars="$cvars $(p11l_quote "$1")"
		shift
	done
	shift
	eval "env $cvars \"\$RUN\" \"\$@\" --show-config" >"$T/show.out" 2>"$T/show.err"
	sed -n 1p "$T/show.out" >"$T/show.line"
	# shellcheck disable=SC2086
	eval "run cmp '' $cvars -- \"\$RUN\" \"\$@\" -- \"\$DRIVER\" \"\$MOD\" no-login"
	banner "$T/cmp.err" >"$T/cmp.banner"
	if [ -s "$T/cmp.banner" ] && cmp -s "$T/show.line" "$T/cmp.banner"; then
		ok "--show-config = banner: $d"
	else
		not_ok "--show-config = banner: $d"
		diag "p11-run --show-config: $(cat "$T/show.line")"
		diag "library banner:        $(cat "$T/cmp.banner")"
	fi
}

CR=$(printf '\r')
TAB=$(printf '\t')
cat >"$T/all.conf" <<EOF
# every key
debug = yes
${TAB}timeout=11$CR
  wait   =   6
mode${TAB}=${TAB}finalize
log = stderr
modules = fake-module.so : other*.so
module = /opt/hsm/real.so
EOF
cat >"$T/bad.conf" <<EOF
debug = 1
timeout = soon
wait = 3
colour = blue
just words
mode = Close
mode = close
log = file
modules =
wait = 99999
EOF
cat >"$T/zeros.conf" <<EOF
debug = 1
timeout = 000007
wait = 0012
EOF
printf 'debug = ON\nmode = close\nwait = 8' >"$T/nonl.conf"

compare "defaults (empty file)" --
compare "-d" nodebug -- -d
compare "variables" P11LOGOUT_WAIT=12 P11LOGOUT_MODE=close P11LOGOUT_TIMEOUT=0 \
	P11LOGOUT_MODULES='fake-module.so:other.so' P11LOGOUT_MODULE=/x/y.so --
compare "file with every key, debug from it" nodebug P11LOGOUT_CONFIG="$T/all.conf" --
compare "file, variables over it" P11LOGOUT_CONFIG="$T/all.conf" P11LOGOUT_WAIT=2 \
	P11LOGOUT_MODE=logout P11LOGOUT_MODULES='*' --
compare "file, variables and options over both" P11LOGOUT_CONFIG="$T/all.conf" \
	P11LOGOUT_WAIT=2 -- --wait 9 --timeout 1 --mode close --modules fake-module.so --log stderr
compare "--config" -- --config "$T/all.conf"
compare "--config, debug from the file only" nodebug -- --config "$T/nonl.conf"
compare "file with bad lines" P11LOGOUT_CONFIG="$T/bad.conf" --
compare "bad variables" P11LOGOUT_WAIT=soon P11LOGOUT_MODE=Finalize P11LOGOUT_TIMEOUT=-1 \
	P11LOGOUT_MODULES= P11LOGOUT_LOG=both --
compare "a named file that does not exist" P11LOGOUT_CONFIG="$T/no-such.conf" P11LOGOUT_WAIT=5 --
compare "seconds with leading zeros in the file" P11LOGOUT_CONFIG="$T/zeros.conf" --
compare "seconds with leading zeros in variables" P11LOGOUT_WAIT=00010 P11LOGOUT_TIMEOUT=0003 --
printf 'signals = HUP, SIGTERM\n' >"$T/signals.conf"
compare "signals from the file" P11LOGOUT_CONFIG="$T/signals.conf" --
compare "signals: a variable over the file" P11LOGOUT_CONFIG="$T/signals.conf" \
	P11LOGOUT_SIGNALS='QUIT INT' --
compare "signals: a bad variable keeps the file's" P11LOGOUT_CONFIG="$T/signals.conf" \
	P11LOGOUT_SIGNALS=KILL --
compare "--signals" -- --signals PIPE,TERM
printf 'max_sessions = 016\n' >"$T/places.conf"
compare "max_sessions from the file, leading zero" P11LOGOUT_CONFIG="$T/places.conf" --
compare "max_sessions: a variable over the file" P11LOGOUT_CONFIG="$T/places.conf" \
	P11LOGOUT_MAX_SESSIONS=4 --
compare "max_sessions: bad variables keep the file's" P11LOGOUT_CONFIG="$T/places.conf" \
	P11LOGOUT_MAX_SESSIONS=257 --
compare "max_sessions: not a number" P11LOGOUT_MAX_SESSIONS=few --

# --show-config with a command prints and then runs it.
out=$("$RUN" --show-config sh -c 'echo ran') 
check "--show-config with a command: prints the settings, then runs it" \
	test "$(printf '%s\n' "$out" | sed -n '$p')" = ran -a \
	"$(printf '%s\n' "$out" | grep -c ': debug=')" = 1
check "--show-config names the library" \
	sh -c "'$RUN' --show-config | grep -qx 'library: $P11L_LIB'"

# --- called through a symlink named after a command ---
mkdir "$T/bin"
for c in openssl env sh cat p11l-no-such-command; do
	ln -s "$RUN" "$T/bin/$c"
done
if command -v openssl >/dev/null 2>&1; then
	real=$(openssl version)
	got=$(PATH=$T/bin:$PATH openssl version)
	check "symlink 'openssl': runs the real openssl ($got)" test "$got" = "$real"
	PATH=$T/bin:$PATH openssl dgst -sha256 -help >/dev/null 2>&1
	check "symlink 'openssl': options go to openssl, not to p11-run" test $? = 0
else
	ok "# SKIP openssl not installed"
	ok "# SKIP openssl not installed"
fi
PATH=$T/bin:$PATH env >"$T/env.out"
check "symlink 'env': the real env runs with the library in LD_PRELOAD" \
	grep -qx "LD_PRELOAD=$P11L_LIB" "$T/env.out"
got=$(LD_PRELOAD=/nonexistent/x.so PATH=$T/bin:$PATH sh -c 'echo "$LD_PRELOAD"' 2>/dev/null)
check "symlink 'sh': the library first, the caller's LD_PRELOAD kept (got '$got')" \
	test "$got" = "$P11L_LIB /nonexistent/x.so"
PATH=$T/bin:$PATH cat /proc/self/maps >"$T/maps"
check "symlink 'cat': the library is mapped into the real cat" grep -q -F "$P11L_LIB" "$T/maps"
got=$(PATH=$T/bin:$PATH sh -c 'echo "$0 $1 [$P11LOGOUT_WAIT]"' --wait 5 2>&1)
check "symlink: p11-run's options are not parsed, the arguments pass through (got '$got')" \
	test "$got" = "--wait 5 []"
PATH=$T/bin:$PATH p11l-no-such-command >/dev/null 2>"$T/nf.err"
check "symlink to a command not in PATH: status 127" test $? = 127
check "... with a message naming it" grep -q 'p11l-no-such-command: not found in PATH' "$T/nf.err"
PATH=$T/bin "$T/bin/cat" /dev/null 2>"$T/nf2.err"
check "symlink whose only match in PATH is itself: status 127" test $? = 127

# The library through a symlink really logs out: the fake driver.
ln -s "$RUN" "$T/bin/fake-driver"
run sym "" PATH="$T/bin:$(dirname "$DRIVER"):$PATH" -- "$T/bin/fake-driver" "$MOD" one-slot
expect "symlink 'fake-driver': the real one runs, logged out at exit" "$T/sym.exit" <<'EOF'
fake1 C_Logout session=100 slot=1 -> CKR_OK
fake1 C_CloseSession session=100 slot=1 -> CKR_OK
EOF

done_testing
