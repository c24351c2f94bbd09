#!/bin/sh
# P11LOGOUT_MAX_SESSIONS on the fake module (no cap of its own, so what is
# refused is refused by the library):
#  - with every place taken and P11LOGOUT_WAIT=0, C_Login is answered
#    CKR_SESSION_COUNT and never reaches the module; without the setting
#    the same login does
#  - 20 processes for 16 places: 16 hold, 4 are refused; the 16 killed
#    with SIGKILL, 16 new logins get their places at once
#  - a forked child that outlives its parent does not keep its place
#  - waiters get the places in the order they came (FIFO)
#  - a place lock file that is a symbolic link is refused, not followed
. "$P11L_TEST_SRCDIR/tap-lib.sh"
DRIVER=$P11L_TEST_BUILDDIR/fake-driver
MOD=$P11L_TEST_BUILDDIR/.libs/fake-module.so
p11l_fixture "$P11L_LIB" "$MOD" "$DRIVER"
p11l_hermetic
mkdir "$T/run" || bail_out "mkdir failed"
XDG_RUNTIME_DIR=$T/run
export XDG_RUNTIME_DIR
PRE=$(p11l_preload)
SESSION_COUNT=0xb1

# hold TAG [VAR=VALUE...]: login-hold with the library, in the background
# (its pid in $T/TAG.pid), its calls in $T/TAG.log.
hold() {
	h_tag=$1
	shift
	env LD_PRELOAD="$PRE" FAKE_LOG="$T/$h_tag.log" FAKE_TAG="$h_tag" "$@" \
		"$DRIVER" "$MOD" login-hold >"$T/$h_tag.out" 2>"$T/$h_tag.err" &
	echo $! >"$T/$h_tag.pid"
}
# once TAG [VAR=VALUE...]: the same in the foreground; its status in $T/TAG.rc.
once() {
	o_tag=$1
	shift
	# LD_PRELOAD for the driver only, not for timeout.
	timeout 60 env FAKE_LOG="$T/$o_tag.log" FAKE_TAG="$o_tag" FAKE_HOLD_MS=0 "$@" \
		"$DRIVER" "$MOD" login-hold >"$T/$o_tag.out" 2>"$T/$o_tag.err"
	echo $? >"$T/$o_tag.rc"
}
# holding TAG...: each of them is logged in ("hold" in its log), waiting up to 20 s.
holding() {
	for hg_tag in "$@"; do
		hg_i=0
		until grep -q '^hold ' "$T/$hg_tag.log" 2>/dev/null; do
			hg_i=$((hg_i + 1))
			[ $hg_i -lt 200 ] || return 1
			sleep 0.1
		done
	done
}
logins() { grep -c 'C_Login' "$T/$1.log" 2>/dev/null || true; }
stop() { for s_tag in "$@"; do kill -9 "$(cat "$T/$s_tag.pid")" 2>/dev/null; wait "$(cat "$T/$s_tag.pid")" 2>/dev/null; done; }

# --- all taken, no wait: refused without the module ---
hold a1 P11LOGOUT_MAX_SESSIONS=1
holding a1 || diag "a1 never logged in"
once a2.without LD_PRELOAD="$PRE"
once a2.with LD_PRELOAD="$PRE" P11LOGOUT_MAX_SESSIONS=1 P11LOGOUT_DEBUG=1
stop a1
check "control: without the setting the second login reaches the module and succeeds" \
	sh -c "[ \"\$(cat '$T/a2.without.rc')\" = 0 ] && [ \"\$(grep -c 'C_Login.*CKR_OK' '$T/a2.without.log')\" = 1 ]"
check "with P11LOGOUT_MAX_SESSIONS=1 taken: CKR_SESSION_COUNT" \
	grep -qx "C_Login -> $SESSION_COUNT" "$T/a2.with.out"
check "... and the module saw no C_Login" test "$(logins a2.with)" = 0
check "... and the debug log says why" grep -q 'all 1 places taken: CKR_SESSION_COUNT without the module' "$T/a2.with.err"
show "$T/a2.with.out" "$T/a2.with.err"

# --- 20 for 16 places, then SIGKILL ---
i=1
while [ $i -le 20 ]; do
	hold "k$i" P11LOGOUT_MAX_SESSIONS=16
	i=$((i + 1))
done
# Those refused exit at once with 5; the others hold.
sleep 1
i=1 held="" refused=0
while [ $i -le 20 ]; do
	if grep -q '^hold ' "$T/k$i.log" 2>/dev/null; then
		held="$held k$i"
	elif grep -qx "C_Login -> $SESSION_COUNT" "$T/k$i.out" 2>/dev/null; then
		refused=$((refused + 1))
	fi
	i=$((i + 1))
done
holding $held || diag "some holders did not log in"
check "20 at once for 16 places: 16 hold, 4 refused (got $(echo $held | wc -w) and $refused)" \
	test "$(echo $held | wc -w) $refused" = "16 4"
once k21 LD_PRELOAD="$PRE" P11LOGOUT_MAX_SESSIONS=16
check "control: with the 16 held, one more is refused" grep -qx "C_Login -> $SESSION_COUNT" "$T/k21.out"
# shellcheck disable=SC2086
stop $held
t0=$(now_ms)
i=1 ok_n=0
while [ $i -le 16 ]; do
	once "r$i" LD_PRELOAD="$PRE" P11LOGOUT_MAX_SESSIONS=16 &
	i=$((i + 1))
done
wait
i=1
while [ $i -le 16 ]; do
	[ "$(cat "$T/r$i.rc")" = 0 ] && ok_n=$((ok_n + 1))
	i=$((i + 1))
done
check "after SIGKILL of the 16 holders, 16 new logins with P11LOGOUT_WAIT=0 all get a place (got $ok_n, in $(($(now_ms) - t0)) ms)" \
	test "$ok_n" = 16

# --- a forked child outliving its parent ---
env LD_PRELOAD="$PRE" P11LOGOUT_MAX_SESSIONS=1 FAKE_HOLD_MS=20000 \
	"$DRIVER" "$MOD" fork-hold >"$T/f.out" 2>"$T/f.err"
child=$(sed -n 's/^child //p' "$T/f.out")
once f2 LD_PRELOAD="$PRE" P11LOGOUT_MAX_SESSIONS=1
check "the parent's child still runs" kill -0 "${child:-0}"
check "a fork child does not keep its parent's place: the next login gets it" \
	sh -c "[ \"\$(cat '$T/f2.rc')\" = 0 ] && grep -qx 'C_Login -> 0x0' '$T/f2.out'"
[ -n "$child" ] && kill "$child" 2>/dev/null

# --- FIFO ---
: >"$T/fifo.log"
env LD_PRELOAD="$PRE" FAKE_LOG="$T/fifo.log" FAKE_TAG=A FAKE_HOLD_MS=1500 P11LOGOUT_MAX_SESSIONS=1 \
	"$DRIVER" "$MOD" login-hold >/dev/null 2>&1 &
pa=$!
sleep 0.3
pids=
for w in B C D E; do
	env LD_PRELOAD="$PRE" FAKE_LOG="$T/fifo.log" FAKE_TAG=$w FAKE_HOLD_MS=200 P11LOGOUT_MAX_SESSIONS=1 \
		P11LOGOUT_WAIT=30 "$DRIVER" "$MOD" login-hold >/dev/null 2>&1 &
	pids="$pids $!"
	sleep 0.2
done
# shellcheck disable=SC2086
wait $pa $pids
sed -n 's/^hold //p' "$T/fifo.log" >"$T/fifo.order"
expect "waiters get the one place in the order they came" "$T/fifo.order" <<EOF
A
B
C
D
E
EOF

# --- a symbolic link where a place's lock file belongs ---
mkdir "$T/run2" || bail_out "mkdir failed"
once s0 LD_PRELOAD="$PRE" P11LOGOUT_MAX_SESSIONS=1 XDG_RUNTIME_DIR="$T/run2"
place=$(ls "$T"/run2/p11logout-place-*-0 2>/dev/null | head -n 1)
check "the place's lock file is made in XDG_RUNTIME_DIR" test -n "$place"
if [ -n "$place" ]; then
	rm -f "$place"
	ln -s "$T/target" "$place"
	hold s1 P11LOGOUT_MAX_SESSIONS=1 XDG_RUNTIME_DIR="$T/run2" P11LOGOUT_DEBUG=1 FAKE_HOLD_MS=3000
	holding s1 || diag "s1 never logged in"
	once s2 LD_PRELOAD="$PRE" P11LOGOUT_MAX_SESSIONS=1 XDG_RUNTIME_DIR="$T/run2"
	stop s1
	check "the link is not followed: its target was never made" test ! -e "$T/target"
	check "the link is refused, and said so" grep -q 'a symbolic link: refused' "$T/s1.err"
	check "with no usable place the limit is off, with a warning (the logins go on)" \
		sh -c "grep -q 'no usable lock file' '$T/s1.err' && [ \"\$(cat '$T/s2.rc')\" = 0 ]"
	show "$T/s1.err"
fi

done_testing
