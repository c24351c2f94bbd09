#!/bin/sh
# The session-capped fixture itself, without libp11logout: the cap, what
# gives a device session back and what does not, a logout after OpenSSL's
# cleanup, idle expiry, the hold, the count command, and bad input.
. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/capped-lib.sh"
unset LD_PRELOAD
capped_require
p11l_tmpdir
T=$P11L_TMP

capped_setup "$T/tok" "$T/pool" 3

n=0
# client ARGS...: late-client through the fixture; its stderr in $T/c$n.err,
# its exit status in $rc.
client() {
	n=$((n + 1))
	out=$T/c$n.err
	"$LATE_CLIENT" --pin "$CAPPED_PIN" "$@" "$CAPPED_MODULE" t k1 2>"$out"
	rc=$?
}
# logged OUTFILE PATTERN DESCRIPTION: the client's stderr has PATTERN.
logged() {
	if grep -q -e "$2" "$1"; then
		ok "$3"
	else
		not_ok "$3"
		sed 's/^/#   /' "$1"
	fi
}

# --- the count command and plain forwarding ---
capped_count_is 0 "an empty pool counts 0"
# $P11L_BARE: under the ASan CI step, the runtime the fixture needs.
check "pkcs11-tool lists the token through the fixture" \
	$P11L_BARE sh -c 'pkcs11-tool --module "$1" -L 2>&1 | grep -q "token label *: t"' \
	sh "$CAPPED_MODULE"
check "pkcs11-tool signs through the fixture" \
	$P11L_BARE sh -c 'printf data >"$2/d" && pkcs11-tool --module "$1" --login \
		--pin 1234 --sign -m SHA256-RSA-PKCS --label k1 \
		-i "$2/d" -o "$2/d.sig" >/dev/null 2>&1 &&
		openssl dgst -sha256 -verify "$2/tok/k1.pem" \
		-signature "$2/d.sig" "$2/d" >/dev/null' sh "$CAPPED_MODULE" "$T"
capped_count_is 0 "pkcs11-tool, which finalizes, gives its session back"

# --- what gives a device session back ---
client --end logout
[ "$rc" = 0 ] && ok "login, sign, C_Logout" || not_ok "login, sign, C_Logout (rc $rc)"
capped_count_is 0 "C_Logout gives the device session back"
client --end finalize
[ "$rc" = 0 ] && ok "login, sign, C_Finalize" || not_ok "login, sign, C_Finalize (rc $rc)"
capped_count_is 0 "C_Finalize gives the device session back"
client --end close
[ "$rc" = 0 ] && ok "login, sign, C_CloseSession" || not_ok "login, sign, C_CloseSession (rc $rc)"
capped_count_is 1 "C_CloseSession does not"
client --end close-all
[ "$rc" = 0 ] && ok "login, sign, C_CloseAllSessions" || not_ok "login, sign, C_CloseAllSessions (rc $rc)"
capped_count_is 2 "C_CloseAllSessions does not"
client --pin 0000
logged "$out" "C_Login: 0xa0" "a wrong PIN fails in the real module (CKR_PIN_INCORRECT)"
capped_count_is 2 "a login the real module rejects takes no device session"
client
[ "$rc" = 0 ] && ok "login, sign, exit" || not_ok "login, sign, exit (rc $rc)"
capped_count_is 3 "an exit without logout leaves the device session taken"

# --- the cap ---
client
[ "$rc" = 1 ] && ok "the 4th login with a cap of 3 fails" || not_ok "the 4th login with a cap of 3 fails (rc $rc)"
logged "$out" "C_Login: 0xb1 (CKR_SESSION_COUNT)" "... with CKR_SESSION_COUNT"
logged "$out" "session state after the failed login: 0 (public)" \
	"... and the real module is not logged in"
capped_count_is 3 "a refused login takes nothing"
check "--list shows three sessions of processes that are gone" \
	sh -c 'test "$("$1" --list "$2" | grep -c " gone$")" = 3' \
	sh "$CAPPED_COUNT" "$CAPPED_STATE_DIR"
check "--reset prints 0" \
	sh -c 'test "$("$1" --reset "$2")" = 0' sh "$CAPPED_COUNT" "$CAPPED_STATE_DIR"
capped_count_is 0 "after --reset"
client
[ "$rc" = 0 ] && ok "a login works again after --reset" || not_ok "a login works again after --reset (rc $rc)"

# --- a logout after OPENSSL_cleanup ---
"$CAPPED_COUNT" --reset >/dev/null
client --late-logout
[ "$rc" = 0 ] && ok "--late-logout client signs" || not_ok "--late-logout client signs (rc $rc)"
logged "$out" "OPENSSL_init_crypto now returns 0" "its teardown runs after OPENSSL_cleanup"
logged "$out" "late C_Logout: 0x30 (CKR_DEVICE_ERROR)" "C_Logout after OPENSSL_cleanup: CKR_DEVICE_ERROR"
logged "$out" "late C_Finalize: 0x30 (CKR_DEVICE_ERROR)" "C_Finalize after OPENSSL_cleanup: CKR_DEVICE_ERROR"
capped_count_is 1 "a logout after OPENSSL_cleanup leaks the device session"
# Where OpenSSL's teardown is: an exit handler (OpenSSL 3) or libcrypto's
# destructor (OpenSSL 4, where the late teardown came from a destructor).
if grep -q 'from a destructor after libcrypto' "$out"; then
	ossl_fini=1
	diag "OpenSSL 4: libcrypto tears down from its destructor, after every exit handler"
else
	ossl_fini=0
	diag "OpenSSL 3: OPENSSL_cleanup() runs from an exit handler"
fi

# --- the same teardown from an exit handler registered before OpenSSL ---
"$CAPPED_COUNT" --reset >/dev/null
client --exit-logout
[ "$rc" = 0 ] && ok "--exit-logout client signs" || not_ok "--exit-logout client signs (rc $rc)"
if [ "$ossl_fini" = 1 ]; then
	logged "$out" "from an exit handler (OPENSSL_init_crypto now returns 1)" \
		"OpenSSL 4: an exit handler registered before OpenSSL still finds libcrypto working"
	logged "$out" "late C_Logout: 0x0$" "OpenSSL 4: its C_Logout: CKR_OK"
	logged "$out" "late C_Finalize: 0x0$" "OpenSSL 4: its C_Finalize: CKR_OK"
	capped_count_is 0 "OpenSSL 4: it gives its device session back"
else
	logged "$out" "from an exit handler (OPENSSL_init_crypto now returns 0)" \
		"OpenSSL 3: an exit handler registered before OpenSSL runs after OPENSSL_cleanup"
	logged "$out" "late C_Logout: 0x30 (CKR_DEVICE_ERROR)" "OpenSSL 3: its C_Logout: CKR_DEVICE_ERROR"
	logged "$out" "late C_Finalize: 0x30 (CKR_DEVICE_ERROR)" "OpenSSL 3: its C_Finalize: CKR_DEVICE_ERROR"
	capped_count_is 1 "OpenSSL 3: it leaks the device session"
fi

# --- idle expiry of sessions of processes that are gone ---
"$CAPPED_COUNT" --reset >/dev/null
client
"$LATE_CLIENT" --pin "$CAPPED_PIN" --sleep 4000 "$CAPPED_MODULE" t k1 2>"$T/sleeper.err" &
sleeper=$!
i=0
while [ "$(capped_count)" != 2 ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
sleep 1.2
capped_count_is 2 "without CAPPED_IDLE_EXPIRY nothing expires"
check "CAPPED_IDLE_EXPIRY=1 frees the session of the process that is gone, not the running one" \
	sh -c 'test "$(CAPPED_IDLE_EXPIRY=1 "$1" "$2")" = 1' sh "$CAPPED_COUNT" "$CAPPED_STATE_DIR"
check "... the one left is the running process" \
	sh -c '"$1" --list "$2" | grep -q "^$3 .* running$"' sh "$CAPPED_COUNT" "$CAPPED_STATE_DIR" "$sleeper"
wait "$sleeper"
check "... which exits leaving it taken" test "$(capped_count)" = 1
CAPPED_IDLE_EXPIRY=1
export CAPPED_IDLE_EXPIRY
client --end logout
[ "$rc" = 0 ] && ok "the module expires it too at the next login" || not_ok "login with CAPPED_IDLE_EXPIRY=1 (rc $rc)"
capped_count_is 0 "... and the count is 0"
unset CAPPED_IDLE_EXPIRY

# --- the hold ---
CAPPED_HOLD_MS=1500
export CAPPED_HOLD_MS
t0=$(date +%s%N)
client --end logout
t1=$(date +%s%N)
unset CAPPED_HOLD_MS
ms=$(( (t1 - t0) / 1000000 ))
[ "$rc" = 0 ] && [ "$ms" -ge 1500 ] && ok "CAPPED_HOLD_MS=1500: the login lasted ${ms} ms" ||
	not_ok "CAPPED_HOLD_MS=1500: rc $rc, the client took ${ms} ms"
capped_count_is 0 "... and its session was given back"

# --- bad input: a clear error from C_Initialize, never a crash ---
# bad_env DESCRIPTION PATTERN VAR=VALUE...: C_Initialize fails with
# CKR_GENERAL_ERROR and says PATTERN, and pkcs11-tool does not crash.
bad_env() {
	d=$1 pat=$2
	shift 2
	env "$@" "$LATE_CLIENT" --pin 1234 "$CAPPED_MODULE" t k1 >"$T/bad.err" 2>&1
	r1=$?
	$P11L_BARE env "$@" pkcs11-tool --module "$CAPPED_MODULE" -L >"$T/bad2.err" 2>&1
	r2=$?
	if [ "$r1" = 1 ] && grep -q "C_Initialize: 0x5$" "$T/bad.err" &&
	   grep -q -e "$pat" "$T/bad.err" && [ "$r2" -ne 0 ] && [ "$r2" -lt 128 ] &&
	   grep -q -e "$pat" "$T/bad2.err"; then
		ok "$d"
	else
		not_ok "$d (late-client rc $r1, pkcs11-tool rc $r2)"
		sed 's/^/#   /' "$T/bad.err" "$T/bad2.err"
	fi
}
bad_env "CAPPED_REAL_MODULE unset" "CAPPED_REAL_MODULE is not set" -u CAPPED_REAL_MODULE
bad_env "CAPPED_REAL_MODULE not a module" "cannot be loaded" CAPPED_REAL_MODULE="$T/none.so"
bad_env "CAPPED_STATE_DIR unset" "CAPPED_STATE_DIR is not set" -u CAPPED_STATE_DIR
bad_env "CAPPED_STATE_DIR missing" "state directory .*: No such file or directory" CAPPED_STATE_DIR="$T/none"
: >"$T/plain"
bad_env "CAPPED_STATE_DIR a file" "not a directory" CAPPED_STATE_DIR="$T/plain"
bad_env "CAPPED_MAX_SESSIONS=abc" "CAPPED_MAX_SESSIONS=\"abc\" is not a number" CAPPED_MAX_SESSIONS=abc
bad_env "CAPPED_MAX_SESSIONS=0" "CAPPED_MAX_SESSIONS must be at least 1" CAPPED_MAX_SESSIONS=0
bad_env "CAPPED_IDLE_EXPIRY=-1" "CAPPED_IDLE_EXPIRY=\"-1\" is not a number" CAPPED_IDLE_EXPIRY=-1
bad_env "CAPPED_HOLD_MS=1x" "CAPPED_HOLD_MS=\"1x\" is not a number" CAPPED_HOLD_MS=1x
mkdir "$T/garbled"
printf 'something else\n' >"$T/garbled/sessions"
bad_env "a state file of something else" "does not start with" CAPPED_STATE_DIR="$T/garbled"
mkdir "$T/broken"
printf 'capped-sessions v1\n12 x 0 0\n' >"$T/broken/sessions"
bad_env "a malformed state record" "line 2 is malformed" CAPPED_STATE_DIR="$T/broken"
check "capped-count refuses a malformed state file with status 2" \
	sh -c '"$1" "$2" >/dev/null 2>&1; test $? = 2' sh "$CAPPED_COUNT" "$T/broken"
if [ "$(id -u)" != 0 ]; then
	mkdir "$T/locked" && chmod 0500 "$T/locked"
	bad_env "an unwritable state directory" "Permission denied" CAPPED_STATE_DIR="$T/locked"
fi

done_testing
