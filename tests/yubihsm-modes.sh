#!/bin/sh
# P11LOGOUT_MODE logout, close and finalize on the real yubihsm_pkcs11
# module and the device simulator.  The module frees a device session only
# with an encrypted CLOSE SESSION (from C_Logout, C_CloseAllSessions or the
# last C_CloseSession); its C_Finalize sends nothing.  Observed first,
# without the library: late-client exiting logged in leaves its session,
# and so does one that calls C_Finalize itself.  Then, for late-client and
# each openssl stack present, in each mode: the open count is back at its
# start (2 sessions held beforehand) and the device counted one
# authenticated CLOSE SESSION; in mode finalize that close comes from the
# library's C_Logout before its C_Finalize.  A client that calls
# C_Finalize itself without logging out: with the library one C_Logout
# goes right before that C_Finalize, and the device counts one
# authenticated CLOSE SESSION; its own C_Finalize still answers CKR_OK.

. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/yubihsm-stack-lib.sh"

ymod_fixture
[ -x "$LATE_CLIENT" ] || bail_out "late-client not built: $LATE_CLIENT"
ymod_stacks
ymod_versions
ymod_start --idle-timeout 600
ymod_take 2

snap() { ymod_counts; s_open=$y_open s_closed=$y_closed; }
delta() {
	ymod_counts
	d_open=$((y_open - s_open)) d_closed=$((y_closed - s_closed))
	d_text="open $s_open -> $y_open, closed +$d_closed"
}

# --- without the library ---
snap
ymod_late none ""
delta
check "late-client without the library: signs and exits logged in; its session stays ($d_text)" \
	test "$(cat "$T/none.rc")" = 0 -a "$d_open" = 1 -a "$d_closed" = 0
snap
ymod_late own-finalize "" -- --end finalize
delta
check "late-client's own C_Finalize, without the library: CKR_OK, and the device session stays ($d_text): the module's C_Finalize sends nothing" \
	test "$(cat "$T/own-finalize.rc")" = 0 -a "$d_open" = 1 -a "$d_closed" = 0
grep -q 'C_Finalize: 0x0' "$T/own-finalize.err" || ymod_show own-finalize

# The same client with the library: the logout it left out goes right
# before its own C_Finalize (the module's C_Logout sends the CLOSE
# SESSION), and its C_Finalize answers as without the library.
snap
ymod_late own-finalize-lib lib P11LOGOUT_DEBUG=1 -- --end finalize
delta
check "late-client's own C_Finalize, with the library: exits 0, one authenticated CLOSE SESSION, nothing left open ($d_text)" \
	test "$(cat "$T/own-finalize-lib.rc")" = 0 -a "$d_open" = 0 -a "$d_closed" = 1
check "late-client's own C_Finalize, with the library: the library's C_Logout before it, CKR_OK; the C_Finalize still CKR_OK" \
	sh -c "grep -q 'libp11logout: C_Finalize: .*: slot [0-9]*: C_Logout(session [0-9]*) -> CKR_OK' '$T/own-finalize-lib.err' &&
		grep -q 'C_Finalize: 0x0' '$T/own-finalize-lib.err'"
[ "$(cat "$T/own-finalize-lib.rc")" = 0 ] || ymod_show own-finalize-lib

# --- with the library, each mode ---
for p in late-client $YMOD_STACKS; do
	for mode in logout close finalize; do
		n=$p-$mode
		snap
		if [ "$p" = late-client ]; then
			ymod_late "$n" lib P11LOGOUT_MODE=$mode
		else
			ymod_sign "$p" "$n" lib P11LOGOUT_MODE=$mode
		fi
		delta
		v=no
		ymod_verifies "$n" && v=yes
		check "$p, P11LOGOUT_MODE=$mode: exits 0 and its signature verifies" \
			test "$(cat "$T/$n.rc")" = 0 -a "$v" = yes
		check "$p, P11LOGOUT_MODE=$mode: the open count is back at its start, one authenticated CLOSE SESSION ($d_text)" \
			test "$d_open" = 0 -a "$d_closed" = 1
		[ "$(cat "$T/$n.rc")" = 0 ] || ymod_show "$n"
	done
done

ymod_done
