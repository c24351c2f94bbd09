#!/bin/sh
# P11LOGOUT_MODE: the exact calls the fake modules receive at exit in each
# mode.  The program (fake-driver mixed-slots) leaves, on fake1, slot 1
# logged in with sessions 100 and 101 open, and slot 2 not logged in with
# session 102 open; on fake2 (when given) session 100, not logged in.
#   logout    C_Logout on slot 1, then close slot 1's sessions
#   close     also close every other session left open (102, fake2's 100)
#   finalize  also C_Finalize the module that was logged in (fake1 only),
#             after the logouts
. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/settings-lib.sh"

# exit_calls TAG: TAG.exit with the order of the two closes on slot 1
# made canonical (the library may log out on either session and close
# them in either order) and the logout's session replaced by S.  Fails
# (printing nothing) when the first line is not a logout of slot 1 on one
# of its sessions.
canon() {
	f=$T/$1.exit
	if ! sed -n 1p "$f" | grep -Eqx 'fake1 C_Logout session=10[01] slot=1 -> CKR_OK'; then
		cat "$f"
		return
	fi
	echo 'fake1 C_Logout session=S slot=1 -> CKR_OK'
	sed -n '2,3p' "$f" | sort
	sed -n '4,$p' "$f"
}

LOGOUT='fake1 C_Logout session=S slot=1 -> CKR_OK
fake1 C_CloseSession session=100 slot=1 -> CKR_OK
fake1 C_CloseSession session=101 slot=1 -> CKR_OK'

run base "" FAKE_SLOTS=2 -- "$DRIVER" "$MOD" mixed-slots "$MOD2"
check "without the library: the program runs to its end" test "$(rc base)" = 0
check "without the library: nothing is called at exit" test ! -s "$T/base.exit"
check "the program logged in on slot 1 only" \
	test "$(grep -c 'C_Login .*-> CKR_OK' "$T/base.prog")" = 1

# mode_case NAME EXPECTED-FILE VAR=VALUE...: one run, its exit calls.
mode_case() {
	name=$1 want=$2
	shift 2
	run "$name" lib FAKE_SLOTS=2 "$@" -- "$DRIVER" "$MOD" mixed-slots "$MOD2"
	same "$name: stdout as without the library" \
		"$T/base.out" "$T/$name.out"
	check "$name: exit status 0, stderr empty" \
		test "$(rc "$name")" = 0 -a ! -s "$T/$name.err"
	same "$name: the program's own calls unchanged" "$T/base.prog" "$T/$name.prog"
	canon "$name" >"$T/$name.canon"
	same "$name: the calls at exit, in order" "$want" "$T/$name.canon"
}

echo "$LOGOUT" >"$T/want.logout"
{ echo "$LOGOUT"; cat <<'EOF'; } >"$T/want.close"
fake1 C_CloseSession session=102 slot=2 -> CKR_OK
fake2 C_CloseSession session=100 slot=1 -> CKR_OK
EOF
{ cat "$T/want.close"; echo 'fake1 C_Finalize -> CKR_OK'; } >"$T/want.finalize"

mode_case default "$T/want.logout"
mode_case logout "$T/want.logout" P11LOGOUT_MODE=logout
mode_case close "$T/want.close" P11LOGOUT_MODE=close
mode_case finalize "$T/want.finalize" P11LOGOUT_MODE=finalize

# From the configuration file, and a variable over the file.
printf 'mode = finalize\n' >"$T/finalize.conf"
mode_case file-finalize "$T/want.finalize" P11LOGOUT_CONFIG="$T/finalize.conf"
mode_case env-over-file "$T/want.close" P11LOGOUT_CONFIG="$T/finalize.conf" \
	P11LOGOUT_MODE=close

# An unknown mode: one warning, and the default.
run bad lib FAKE_SLOTS=2 P11LOGOUT_MODE=Close -- "$DRIVER" "$MOD" mixed-slots "$MOD2"
check "P11LOGOUT_MODE=Close: exactly one line on stderr, a warning about it" \
	test "$(wc -l <"$T/bad.err")" = 1 -a \
	"$(grep -c "^libp11logout: P11LOGOUT_MODE='Close'" "$T/bad.err")" = 1
canon bad >"$T/bad.canon"
same "P11LOGOUT_MODE=Close: the default mode (logout) applies" "$T/want.logout" "$T/bad.canon"

# p11-run --mode.
run run-close "" FAKE_SLOTS=2 -- "$P11L_RUN" --mode close "$DRIVER" "$MOD" mixed-slots "$MOD2"
canon run-close >"$T/run-close.canon"
same "p11-run --mode close: the calls at exit" "$T/want.close" "$T/run-close.canon"

# Without any login: mode close still closes what was left open, and mode
# finalize finalizes nothing (no module was logged in).
run nl-base "" -- "$DRIVER" "$MOD" no-login
for m in logout close finalize; do
	run "nl-$m" lib P11LOGOUT_MODE=$m -- "$DRIVER" "$MOD" no-login
	same "no login, mode $m: the program's own calls unchanged" \
		"$T/nl-base.prog" "$T/nl-$m.prog"
	same "no login, mode $m: stdout unchanged" "$T/nl-base.out" "$T/nl-$m.out"
done
expect "no login, mode logout: no call at exit" "$T/nl-logout.exit" </dev/null
expect "no login, mode close: the session left open is closed" "$T/nl-close.exit" <<'EOF'
fake1 C_CloseSession session=100 slot=1 -> CKR_OK
EOF
expect "no login, mode finalize: the session is closed, no C_Finalize" \
	"$T/nl-finalize.exit" <<'EOF'
fake1 C_CloseSession session=100 slot=1 -> CKR_OK
EOF

# The program finalized the module itself, still logged in with its
# session open (no C_Logout in the baseline): in every mode the one logout
# it left out goes right before its C_Finalize, and nothing follows: no
# second C_Finalize, nothing at exit.
run sf-base "" -- "$DRIVER" "$MOD" self-finalize
check "the program's own C_Finalize: without the library no C_Logout" \
	sh -c "! grep -q C_Logout '$T/sf-base.log'"
for m in logout close finalize; do
	run "sf-$m" lib P11LOGOUT_MODE=$m -- "$DRIVER" "$MOD" self-finalize
	expect_inserted "mode $m, the program's own C_Finalize: one C_Logout right before it, nothing else added" \
		"$T/sf-base.log" 'fake1 C_Finalize -> CKR_OK' "$T/sf-$m.log" <<'EOF'
fake1 C_Logout session=100 slot=1 -> CKR_OK
EOF
	same "mode $m, the program's own C_Finalize: stdout unchanged" "$T/sf-base.out" "$T/sf-$m.out"
done

# Two logged-in modules in mode finalize: both logged out, then each
# finalized once, after every logout.
run tm lib P11LOGOUT_MODE=finalize -- "$DRIVER" "$MOD" two-modules "$MOD2"
E=$T/tm.exit
expect_lines "two modules, mode finalize: logged out, closed and finalized once each" "$E" <<'EOF'
fake1 C_Logout session=100 slot=1 -> CKR_OK
fake1 C_CloseSession session=100 slot=1 -> CKR_OK
fake2 C_Logout session=100 slot=1 -> CKR_OK
fake2 C_CloseSession session=100 slot=1 -> CKR_OK
fake1 C_Finalize -> CKR_OK
fake2 C_Finalize -> CKR_OK
EOF
last_logout=$(grep -n 'C_Logout' "$E" | tail -n 1 | cut -d: -f1)
first_fin=$(grep -n 'C_Finalize' "$E" | head -n 1 | cut -d: -f1)
check "two modules, mode finalize: every C_Finalize after every C_Logout" \
	test "${last_logout:-99}" -lt "${first_fin:-0}"

done_testing
