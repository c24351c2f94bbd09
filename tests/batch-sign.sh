#!/bin/sh
# Many short-lived signing processes against the session-capped fixture
# (cap 16, like a YubiHSM 2): without libp11logout the 17th fails; with it
# every process gives its device session back.
#  - 50 sequential "openssl dgst -engine pkcs11 -sign" (libp11 engine)
#  - 50 sequential late-client (written like libp11 >= 0.4.14), and its
#    variant that logs out only after OPENSSL_cleanup
#  - 4 batches of 8 openssl processes at once
# With the library, P11L_BATCH_RUNS (default 50, at least 17) sequential
# runs and P11L_BATCH_BATCHES (default 4, at least 3) batches: the valgrind
# CI step, where each preloaded process runs under valgrind ($P11L_VG),
# asks for fewer.  Either way more processes than the cap of 16 run.
. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/capped-lib.sh"
unset LD_PRELOAD
capped_require
[ -e "$P11L_LIB" ] || bail_out "$P11L_LIB is not built"
N=${P11L_BATCH_RUNS:-50}
NB=${P11L_BATCH_BATCHES:-4}
[ "$N" -ge 17 ] 2>/dev/null || bail_out "P11L_BATCH_RUNS must be at least 17, not '$N'"
[ "$NB" -ge 3 ] 2>/dev/null || bail_out "P11L_BATCH_BATCHES must be at least 3, not '$NB'"
LIBPRE=$(p11l_preload)
p11l_tmpdir
T=$P11L_TMP

capped_setup "$T/tok" "$T/pool" 16
PUB=$T/tok/k1.pem
# libp11's engine gets the fixture from an OPENSSL_CONF engine section
# (MODULE_PATH): the configuration that leaves the login on every libp11
# from 0.4.12 (Debian 12) to 0.4.21 (unstable).  With PKCS11_MODULE_PATH
# instead, 0.4.13 and later close their sessions and C_Finalize by
# themselves, and no cap is ever reached.  The openssl command line is
# what a user types.
. "$P11L_TEST_SRCDIR/engine-lib.sh"
p11l_engine_conf "$T/engine.cnf" "$CAPPED_MODULE"
OPENSSL_CONF=$T/engine.cnf
export OPENSSL_CONF
unset PKCS11_MODULE_PATH
URI="pkcs11:token=t;object=k1;type=private;pin-value=$CAPPED_PIN"
printf late-client >"$T/late.dat"

# sign DIR I [PRELOAD]: sign DIR/I.dat into DIR/I.sig, stderr in DIR/I.err;
# prints nothing, returns openssl's status.  With PRELOAD, openssl runs
# under $P11L_VG (valgrind, when P11L_VALGRIND=1); without, after
# $P11L_BARE (the ASan runtime that the fixture needs in the ASan step).
sign() {
	[ -f "$1/$2.dat" ] || printf 'file %s of %s\n' "$2" "$1" >"$1/$2.dat"
	if [ -n "${3:-}" ]; then
		LD_PRELOAD=$3 $P11L_VG openssl dgst -sha256 -engine pkcs11 \
			-keyform engine -sign "$URI" -out "$1/$2.sig" \
			"$1/$2.dat" >/dev/null 2>"$1/$2.err"
	else
		$P11L_BARE openssl dgst -sha256 -engine pkcs11 -keyform engine \
			-sign "$URI" -out "$1/$2.sig" "$1/$2.dat" \
			>/dev/null 2>"$1/$2.err"
	fi
}
# late DIR I [PRELOAD] [ARGS...]: late-client, signature in DIR/I.sig
# (with PRELOAD, under $P11L_VG).
late() {
	ld=$1 li=$2 lpre=$3
	shift 3
	if [ -n "$lpre" ]; then
		LD_PRELOAD=$lpre $P11L_VG "$LATE_CLIENT" --pin "$CAPPED_PIN" "$@" \
			-o "$ld/$li.sig" "$CAPPED_MODULE" t k1 2>"$ld/$li.err"
	else
		"$LATE_CLIENT" --pin "$CAPPED_PIN" "$@" \
			-o "$ld/$li.sig" "$CAPPED_MODULE" t k1 2>"$ld/$li.err"
	fi
}
# each_succeeds DESC N FN DIR ARGS...: FN DIR I ARGS... (sign or late) for
# I = 1..N in turn; one check that every run succeeded (the first failed
# one's stderr, DIR/I.err, as comments when not).
each_succeeds() {
	es_desc=$1 es_n=$2 es_fn=$3 es_dir=$4
	shift 4
	es_fails=
	for es_i in $(seq "$es_n"); do
		"$es_fn" "$es_dir" "$es_i" "$@" || es_fails="$es_fails $es_i"
	done
	if [ -z "$es_fails" ]; then
		ok "$es_desc: all $es_n succeed"
	else
		not_ok "$es_desc: failed runs:$es_fails"
		set -- $es_fails
		sed 's/^/#   /' "$es_dir/$1.err"
	fi
}
# verify DIR DATAFILE-or-empty I...: every DIR/I.sig is a valid signature
# (of DIR/I.dat, or of DATAFILE); prints the ones that are not.
verify_all() {
	vd=$1 vdata=$2
	shift 2
	vbad=
	for vi in "$@"; do
		openssl dgst -sha256 -verify "$PUB" -signature "$vd/$vi.sig" \
			"${vdata:-$vd/$vi.dat}" >/dev/null 2>&1 || vbad="$vbad $vi"
	done
	[ -z "$vbad" ] || { diag "signatures that do not verify:$vbad"; return 1; }
}
# take N: N device sessions held by clients that exited logged in, so that
# "back to its start" is checked from a count other than 0.
take() {
	for ti in $(seq "$1"); do
		late "$T" "take$ti" "" >/dev/null || diag "take $ti failed"
	done
}
# expect_first_16 DIR LAST DESC: runs 1..16 succeeded and the 17th...LAST
# failed, the 17th showing the session count or the failed login.
expect_first_16() {
	d=$1 last=$2 desc=$3
	okrun= failrun=
	for i in $(seq "$last"); do
		if [ "$(cat "$d/$i.rc")" = 0 ]; then okrun="$okrun $i"; else failrun="$failrun $i"; fi
	done
	exp_ok=$(seq 16 | tr '\n' ' ' | sed 's/^/ /; s/ $//')
	exp_fail=$(seq 17 "$last" | tr '\n' ' ' | sed 's/^/ /; s/ $//')
	if [ "$okrun" = "$exp_ok" ] && [ "$failrun" = "$exp_fail" ]; then
		ok "$desc: runs 1-16 succeed, 17-$last fail"
	else
		not_ok "$desc: succeeded:$okrun; failed:$failrun"
	fi
}

# skip_n N WHY: N skipped checks.
skip_n() { for si in $(seq "$1"); do ok "# SKIP $2"; done; }

# --- 1. openssl, sequential, without libp11logout ---
# Observed first: a stack whose engine cleans up by itself (all 50 sign,
# nothing stays taken) has no leaking configuration here, and the openssl
# parts skip, saying so, rather than pass; so do they where openssl takes
# no engine (OpenSSL 4.0), and the late-client parts still run.
t0=$(date +%s)
if no_leak=$(p11l_engine_missing); then
	diag "$no_leak"
else
	no_leak=
	mkdir "$T/seq0"
	for i in $(seq 50); do sign "$T/seq0" "$i"; echo $? >"$T/seq0/$i.rc"; done
	okn=0
	for i in $(seq 50); do [ "$(cat "$T/seq0/$i.rc")" = 0 ] && okn=$((okn + 1)); done
	if [ "$okn" = 50 ] && [ "$(capped_count)" = 0 ]; then
		no_leak="openssl with libp11's engine (OPENSSL_CONF) cleaned up by itself on this stack: all 50 signed, no session stayed taken; no leaking configuration to show the cap with"
		diag "$no_leak"
	fi
fi
if [ -n "$no_leak" ]; then
	skip_n 4 "$no_leak"
else
expect_first_16 "$T/seq0" 50 "openssl without libp11logout"
if grep -q -E 'Session count|CKR_SESSION_COUNT|Login failed|Login to token failed' "$T/seq0/17.err"; then
	ok "the 17th openssl's error shows CKR_SESSION_COUNT / the failed login"
else
	not_ok "the 17th openssl's error shows CKR_SESSION_COUNT / the failed login"
	sed 's/^/#   /' "$T/seq0/17.err"
fi
check "the first 16 signatures verify" verify_all "$T/seq0" "" $(seq 16)
capped_count_is 16 "all 16 device sessions stay taken"
fi

# --- 2. openssl, sequential, with libp11logout ---
if [ -n "$no_leak" ]; then
	skip_n 4 "$no_leak"
else
"$CAPPED_COUNT" --reset >/dev/null
take 2
start=$(capped_count)
check "two sessions taken beforehand" test "$start" = 2
mkdir "$T/seq1"
each_succeeds "openssl with libp11logout" "$N" sign "$T/seq1" "$LIBPRE"
check "all $N signatures verify" verify_all "$T/seq1" "" $(seq "$N")
capped_count_is "$start" "the count is back to its start"
fi
t1=$(date +%s)
diag "openssl runs: $((t1 - t0)) s"

# --- 3. late-client ---
"$CAPPED_COUNT" --reset >/dev/null
mkdir "$T/late0"
for i in $(seq 17); do late "$T/late0" "$i" ""; echo $? >"$T/late0/$i.rc"; done
expect_first_16 "$T/late0" 17 "late-client without libp11logout"
check "the 17th late-client got CKR_SESSION_COUNT" \
	grep -q "C_Login: 0xb1" "$T/late0/17.err"
capped_count_is 16 "16 sessions stay taken"

"$CAPPED_COUNT" --reset >/dev/null
take 2
start=$(capped_count)
mkdir "$T/late1"
each_succeeds "late-client with libp11logout" "$N" late "$T/late1" "$LIBPRE"
check "all $N late-client signatures verify" verify_all "$T/late1" "$T/late.dat" $(seq "$N")
capped_count_is "$start" "the count is back to its start"

# The variant that logs out only after OPENSSL_cleanup.
"$CAPPED_COUNT" --reset >/dev/null
mkdir "$T/var0"
for i in $(seq 17); do late "$T/var0" "$i" "" --late-logout; echo $? >"$T/var0/$i.rc"; done
expect_first_16 "$T/var0" 17 "late-logout variant without libp11logout"
missing=
for i in $(seq 16); do
	grep -q "late C_Logout: 0x30 (CKR_DEVICE_ERROR)" "$T/var0/$i.err" || missing="$missing $i"
done
check "each of its logouts after OPENSSL_cleanup failed with CKR_DEVICE_ERROR${missing:+ (not:$missing)}" \
	test -z "$missing"
capped_count_is 16 "the late logouts leaked all 16 sessions"

"$CAPPED_COUNT" --reset >/dev/null
take 2
start=$(capped_count)
mkdir "$T/var1"
each_succeeds "late-logout variant with libp11logout" "$N" late "$T/var1" "$LIBPRE" --late-logout
capped_count_is "$start" "the count is back to its start"
t2=$(date +%s)
diag "late-client runs: $((t2 - t1)) s"

# --- 4. parallel: batches of 8 openssl processes at once ---
if [ -n "$no_leak" ]; then
	skip_n 7 "$no_leak"
	done_testing
fi
# SoftHSM2 2.6.1's file store is not safe for concurrent logins: each
# process gets its own copy of the token; the fixture's pool is still one.
NP=$((NB * 8))
ncopies=$NP
[ "$ncopies" -ge 32 ] || ncopies=32
for i in $(seq "$ncopies"); do
	capped_token_copy "$T/tok" "$T/par/$i" || bail_out "cannot copy the token"
done
CAPPED_HOLD_MS=400
export CAPPED_HOLD_MS
# batches PRELOAD COUNT: COUNT batches of 8; DIR/I.rc per process; prints
# the highest count seen while they ran.
batches() {
	peak=0
	for b in $(seq 0 $(($2 - 1))); do
		pids=
		for j in $(seq 8); do
			i=$((b * 8 + j))
			(
				SOFTHSM2_CONF=$T/par/$i/softhsm2.conf
				export SOFTHSM2_CONF
				sign "$T/par/$i" "$i" "$1"
				echo $? >"$T/par/$i/$i.rc"
			) &
			pids="$pids $!"
		done
		for pid in $pids; do
			while kill -0 "$pid" 2>/dev/null; do
				c=$(capped_count)
				[ "$c" -gt "$peak" ] && peak=$c
				sleep 0.05
			done
			wait "$pid"
		done
	done
	echo "$peak"
}
"$CAPPED_COUNT" --reset >/dev/null
take 2
start=$(capped_count)
peak=$(batches "$LIBPRE" "$NB")
fails=
for i in $(seq "$NP"); do [ "$(cat "$T/par/$i/$i.rc")" = 0 ] || fails="$fails $i"; done
if [ -z "$fails" ]; then
	ok "parallel with libp11logout: all $NP succeed"
else
	not_ok "parallel with libp11logout: failed runs:$fails"
	set -- $fails
	sed 's/^/#   /' "$T/par/$1/$1.err"
fi
bad=
for i in $(seq "$NP"); do verify_all "$T/par/$i" "" "$i" >/dev/null || bad="$bad $i"; done
check "all $NP signatures verify${bad:+ (not:$bad)}" test -z "$bad"
capped_count_is "$start" "the count is back to its start"
check "the processes overlapped (peak count $peak, start $start)" \
	test "$peak" -ge $((start + 2))

"$CAPPED_COUNT" --reset >/dev/null
rm -f "$T"/par/*/*.rc "$T"/par/*/*.sig
peak=$(batches "" 4)
okrun=0 capfail=0
for i in $(seq 32); do
	if [ "$(cat "$T/par/$i/$i.rc")" = 0 ]; then
		okrun=$((okrun + 1))
	elif grep -q -E 'Session count|Login failed' "$T/par/$i/$i.err"; then
		capfail=$((capfail + 1))
	fi
done
check "parallel without libp11logout: exactly 16 succeed (got $okrun)" test "$okrun" = 16
check "... and the other 16 fail on the session cap (got $capfail)" test "$capfail" = 16
capped_count_is 16 "... with 16 sessions taken"
t3=$(date +%s)
diag "parallel runs: $((t3 - t2)) s"

done_testing
