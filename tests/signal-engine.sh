#!/bin/sh
# P11LOGOUT_SIGNALS with the unmodified "openssl dgst -engine pkcs11 -sign"
# (libp11 engine) against SoftHSM2, pkcs11-spy recording what reaches the
# module.  The data comes from a FIFO that stays empty, so openssl is
# logged in and waiting when SIGTERM, SIGINT or SIGHUP arrives:
#  - without the library, and with it but without the setting: no C_Logout;
#  - with the setting: one C_Logout reaching the module;
#  - the exit status always the one without the library (death by signal).
. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/softhsm-setup.sh"
. "$P11L_TEST_SRCDIR/spy-trace.sh"
. "$P11L_TEST_SRCDIR/engine-lib.sh"

command -v mkfifo >/dev/null 2>&1 || skip_all "mkfifo(1) is needed"
unset LD_PRELOAD
p11l_spy_fixture engine
T=$P11L_TMP
P11L_CONF=$T/openssl.cnf
p11l_engine_conf "$P11L_CONF" "$P11L_SPY"
mkfifo "$T/fifo" || bail_out "mkfifo failed"
# Held open for writing by the test, so openssl's read just waits.
exec 7<>"$T/fifo"

# stopped TAG SIG [VAR=VALUE...]: openssl, its key loaded (logged in),
# stopped with SIG.  Sets tag, rc; TAG.calls as p11l_sign leaves it.
stopped() {
	tag=$1 sig=$2
	shift 2
	rm -f "$T/$tag".*
	PKCS11SPY=$P11L_SOFTHSM PKCS11SPY_OUTPUT=$T/$tag.trace OPENSSL_CONF=$P11L_CONF \
	P11LOGOUT_CONFIG=$T/empty.conf \
		env --default-signal=INT,QUIT -u P11LOGOUT_SIGNALS -u P11LOGOUT_DEBUG "$@" \
		openssl dgst -sha256 -engine pkcs11 -keyform engine \
		-sign "pkcs11:token=$P11L_TOKEN_LABEL;object=$P11L_RSA_KEY;type=private;pin-value=$P11L_PIN" \
		-out "$T/$tag.sig" "$T/fifo" >"$T/$tag.out" 2>"$T/$tag.err" &
	pid=$!
	j=0
	while [ $j -lt 300 ] && kill -0 "$pid" 2>/dev/null; do
		[ -f "$T/$tag.trace" ] &&
			p11l_spy_calls "$T/$tag.trace" | grep -q '^C_Login CKR_OK$' && break
		sleep 0.05
		j=$((j + 1))
	done
	sleep 0.2
	kill -s "$sig" "$pid" 2>/dev/null
	wait "$pid"
	rc=$?
	p11l_sign_calls
}

logouts() { p11l_calls_count "$T/$1.calls" C_Logout CKR_OK; }
logins() { p11l_calls_count "$T/$1.calls" C_Login CKR_OK; }

for s in TERM INT HUP; do
	stopped "base-$s" "$s" LD_PRELOAD=
	base=$rc
	check "SIG$s without the library: logged in when stopped, no C_Logout, status $base" \
		test "$(logins "base-$s")" = 1 -a "$(logouts "base-$s")" = 0 -a "$base" -gt 128
	stopped "off-$s" "$s" LD_PRELOAD="$(p11l_preload)"
	check "SIG$s with the library, without the setting: no C_Logout, status $rc as without it" \
		test "$(logins "off-$s")" = 1 -a "$(logouts "off-$s")" = 0 -a "$rc" = "$base"
	stopped "on-$s" "$s" LD_PRELOAD="$(p11l_preload)" P11LOGOUT_SIGNALS=TERM,INT,HUP
	check "SIG$s with P11LOGOUT_SIGNALS: one C_Logout reaches SoftHSM2 (got $(logouts "on-$s"))" \
		test "$(logins "on-$s")" = 1 -a "$(logouts "on-$s")" = 1
	check "SIG$s with P11LOGOUT_SIGNALS: status $rc, as without the library ($base)" \
		test "$rc" = "$base"
	if grep -a -q 'libp11logout:' "$T/on-$s.err"; then
		not_ok "SIG$s with P11LOGOUT_SIGNALS: silent on stderr"
		sed 's/^/#   /' "$T/on-$s.err" | head -10
	else
		ok "SIG$s with P11LOGOUT_SIGNALS: silent on stderr"
	fi
done
exec 7>&-

done_testing
