#!/bin/sh
# P11LOGOUT_WAIT on the real yubihsm_pkcs11 module and the device
# simulator (16 sessions): 64 "openssl dgst -sign" processes at once, with
# the library.  The module maps the device's "all sessions are allocated"
# to CKR_SESSION_COUNT at C_Login, which is what the wait retries.  So
# that the 64 really log in at once on a small machine, each reads its PIN
# from a FIFO (pin-source=file:...), which the stack opens after loading
# the module and before logging in; the PINs are written only when all 64
# have opened theirs.
#  - The control, without P11LOGOUT_WAIT: how many fail and how many
#    sessions the simulator refused are reported; every failure must be a
#    refused login (claimed only where some failed).
#  - With P11LOGOUT_WAIT=120: all 64 sign and verify, no session is left
#    open; the simulator's refusals (the logins tried again) and the
#    elapsed time are reported.

. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/yubihsm-stack-lib.sh"

ymod_fixture
command -v bash >/dev/null 2>&1 || skip_all "bash is needed to open the PIN FIFOs at once"
command -v mkfifo >/dev/null 2>&1 || skip_all "mkfifo(1) is needed"
ymod_stacks
set -- $YMOD_STACKS
[ $# -gt 0 ] || skip_all "no PKCS#11 stack for openssl here (libp11's engine or provider, pkcs11-provider)"
# The first stack present (the engine, where there is one).
S=$1
ymod_versions
diag "stack: $S"
N=64
ymod_start

# at_once NAME [VAR=VALUE...]: the N processes, with the library and
# VAR=VALUE...; NAME.I.rc, .err, .sig.  Sets ms: from the release of the
# PINs to the end of the last one.
at_once() {
	ao_n=$1
	shift
	mkdir -p "$T/$ao_n.pins"
	ao_pids=
	for i in $(seq $N); do
		rm -f "$T/$ao_n.pins/$i"
		mkfifo "$T/$ao_n.pins/$i" || bail_out "mkfifo failed"
		ymod_sign "$S" "$ao_n.$i" lib YMOD_PIN_FILE="$T/$ao_n.pins/$i" "$@" &
		ao_pids="$ao_pids $!"
	done
	timeout 300 bash "$P11L_TEST_SRCDIR/pin-gate.bash" "$T/$ao_n.pins/released" "$YMOD_PIN" \
		$N "$T/$ao_n.pins" "" || diag "$ao_n: the PIN gate failed"
	# shellcheck disable=SC2086
	wait $ao_pids
	ms=$((($(date +%s%N) - $(cat "$T/$ao_n.pins/released" 2>/dev/null || date +%s%N)) / 1000000))
}

# tally NAME: okn (signed and verified), failed (the others, listed in
# fails), named (failures whose stderr names the refused login).
tally() {
	okn=0 failed=0 named=0 fails=
	for i in $(seq $N); do
		if [ "$(cat "$T/$1.$i.rc")" = 0 ] && ymod_verifies "$1.$i"; then
			okn=$((okn + 1))
		else
			failed=$((failed + 1)) fails="$fails $i"
			ymod_refused_msg "$1.$i" && named=$((named + 1))
		fi
	done
}

# --- the control: the library without the wait ---
ymod_counts
r0=$y_refused
at_once nowait
tally nowait
ymod_counts
refused=$((y_refused - r0))
diag "without P11LOGOUT_WAIT: $okn of $N signed, $failed failed ($named of them name the refused login); simulator: $refused sessions refused, $y_open left open; $ms ms"
if [ "$failed" -gt 0 ]; then
	check "without P11LOGOUT_WAIT: every failure is a refused login (failed $failed, simulator refused $refused)" \
		test "$refused" -ge "$failed"
	case $S in
	pkcs11-provider*) diag "(pkcs11-provider does not name the cause of a failed login)" ;;
	libp11-provider)
		# Debian's libp11 provider is built for OpenSSL 3: under OpenSSL
		# 4.0's openssl it reports into libcrypto 3's error queue, which
		# the command does not print (seen: "Login failed" only).
		case $(openssl version) in
		"OpenSSL 3"*) check "without P11LOGOUT_WAIT: each failure's error names the refused login (CKR_SESSION_COUNT: $named of $failed)" \
			test "$named" = "$failed" ;;
		*) diag "($(openssl version | cut -d' ' -f1-2): libp11's OpenSSL 3 provider's error queue is not printed; $named of $failed name the cause)" ;;
		esac
		;;
	*) check "without P11LOGOUT_WAIT: each failure's error names the refused login (CKR_SESSION_COUNT: $named of $failed)" \
		test "$named" = "$failed" ;;
	esac
else
	diag "without P11LOGOUT_WAIT: no process failed here; the cap was not hit without the wait"
fi
check "without P11LOGOUT_WAIT: no session is left open (open $y_open)" test "$y_open" = 0

# --- with the wait ---
ymod_counts
r0=$y_refused c0=$y_closed
at_once wait P11LOGOUT_WAIT=120
tally wait
ymod_counts
refused=$((y_refused - r0))
diag "with P11LOGOUT_WAIT=120: $okn of $N signed in $ms ms; simulator: $refused sessions refused (logins tried again), $((y_closed - c0)) closed, $y_open left open"
check "with P11LOGOUT_WAIT=120: all $N sign and verify${fails:+ (not:$fails)}" test "$okn" = $N
[ -z "$fails" ] || { set -- $fails; ymod_show "wait.$1"; }
check "with P11LOGOUT_WAIT=120: no session is left open (open $y_open)" test "$y_open" = 0
check "with P11LOGOUT_WAIT=120: $N authenticated CLOSE SESSIONs (got $((y_closed - c0)))" \
	test $((y_closed - c0)) = $N

ymod_done
