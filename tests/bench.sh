#!/bin/sh
# The benchmark: every figure is measured side by side in this run, with the
# library against without it (or against the anchor named).  Prints one
# Markdown table.  Run with `make bench`; not part of `make check`.
. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/softhsm-setup.sh"
. "$P11L_TEST_SRCDIR/spy-trace.sh"
. "$P11L_TEST_SRCDIR/engine-lib.sh"
. "$P11L_TEST_SRCDIR/capped-lib.sh"
. "$P11L_TEST_SRCDIR/fair-wait-lib.sh"
p11l_tmpdir
bench_t0=$(date +%s)

N_SIGN=${BENCH_SIGN:-400}
N_CAPPED=${BENCH_CAPPED:-1000}
N_DLSYM=${BENCH_DLSYM:-1000000}
N_FAIR=${BENCH_FAIR:-256}
MINIMAL=$P11L_TEST_BUILDDIR/.libs/bench-minimal-preload.so
lib=$P11L_LIB

say() { printf '%s\n' "$*" >&2; }
now_ns() { date +%s%N; }

# BENCH_PARTS: a comma-separated list of the parts to run (true, dlsym,
# sign, spy, capped, p64, fair, slow, places, record); all by default.
want() { case ",${BENCH_PARTS:-all}," in *,all,*|*,"$1",*) return 0 ;; esac; return 1; }

rows=""
row() { rows="$rows| $1 | $2 | $3 | $4 | $5 |
"; }

# bench-pair's figures (tests/bench-pair.c): field N of the line that
# starts with KEY ("side 1", "ratio 2/1"); as "MEDIAN (LOW–HIGH)", the 95 %
# interval; the same signed, for differences; the runs that failed.
PAIR=$P11L_TEST_BUILDDIR/bench-pair
THREAD=$P11L_TEST_BUILDDIR/.libs/bench-thread.so
N_WD=${BENCH_WD:-2000}
bp() { awk -v key="$2" -v n="$3" '$1 " " $2 == key { print $n }' "$1"; }
bp3() { awk -v key="$2" -v n="$3" '$1 " " $2 == key { printf "%s (%s–%s)", $n, $(n + 1), $(n + 2) }' "$1"; }
bpd() { awk -v key="$2" -v n="$3" '$1 " " $2 == key { printf "%+.1f (%+.1f to %+.1f)", $n, $(n + 1), $(n + 2) }' "$1"; }
bp_failed() { awk '$1 == "failed" { print $2 }' "$1"; }

# 1. A process that never touches PKCS#11.
if want true; then
say "bench: /bin/true under callgrind and strace"
instr() {
	env ${1:+LD_PRELOAD=$1} valgrind --tool=callgrind --callgrind-out-file=/dev/null \
		/bin/true 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
syscalls() {
	strace -f -qq -o "$P11L_TMP/strace" env ${1:+LD_PRELOAD=$1} /bin/true >/dev/null 2>&1
	# Only what /bin/true itself does, after env's execve.
	awk '/execve\("\/bin\/true"/ { on = 1 } on' "$P11L_TMP/strace" | grep -c '('
}
i_none=$(instr "") i_lib=$(instr "$lib") i_min=$(instr "$MINIMAL")
s_none=$(syscalls "") s_lib=$(syscalls "$lib") s_min=$(syscalls "$MINIMAL")
row "/bin/true: instructions (callgrind)" "$i_none" "$i_lib" "+$((i_lib - i_none)) (minimal preload: +$((i_min - i_none)))" "at most +12,000"
row "/bin/true: system calls (strace)" "$s_none" "$s_lib" "+$((s_lib - s_none)) (minimal preload: +$((s_min - s_none)))" "no more than a minimal preload"

# What the library's share is made of, figure by figure.  Each is measured
# against no preload from a path of the same length as the library's: the
# loader's cost grows with the length of LD_PRELOAD's path.
same_path() {
	sp_k=$(( ${#lib} - ${#P11L_TMP} - 5 - ${#2} ))
	[ "$sp_k" -ge 1 ] || sp_k=1
	sp_dir=$P11L_TMP/sp/$(printf '%*s' "$sp_k" '' | tr ' ' x)
	mkdir -p "$sp_dir" && cp "$1" "$sp_dir/$2" && echo "$sp_dir/$2"
}
# The version definitions are the library's own (OPENSSL_cleanup's nodes,
# preload/libp11logout.map), not counting the base.
elf_shape() {
	printf '%s imports, %s weak undefined, %s symbol versions, %s version definitions' \
		"$(readelf --dyn-syms -W "$1" | awk '$7 == "UND" && $8 != ""' | wc -l)" \
		"$(readelf --dyn-syms -W "$1" | awk '$7 == "UND" && $5 == "WEAK"' | wc -l)" \
		"$(readelf -V "$1" | grep -c 'Name: GLIBC')" \
		"$(readelf -V "$1" | grep -c 'Rev: .*Flags: none')"
}
at_len() { n=$(same_path "$1" "$(basename "$lib")") || return 1; printf '%s' "$(( $(instr "$n") - i_none ))"; rm -rf "$P11L_TMP/sp"; }
d_lib=$(at_len "$lib")
d_sf=$(at_len "$(dirname "$lib")/libp11logout-startfiles.so")
d_min=$(at_len "$MINIMAL")
d_minnsf=$(at_len "$P11L_TEST_BUILDDIR/.libs/bench-minimal-nsf-preload.so")
d_first=$(at_len "$P11L_TEST_BUILDDIR/.libs/bench-first-stage.so")
row "/bin/true, the library's share, figure by figure (callgrind, each against no preload, from a path as long as the library's)" "$i_none" \
	"library: +$d_lib ($(elf_shape "$lib"))" \
	"linked with the C start files, as before: +$d_sf ($(elf_shape "$(dirname "$lib")/libp11logout-startfiles.so")); minimal preload: +$d_min with the start files, +$d_minnsf without; first stage of a split (bench-first-stage.c, not made): +$d_first ($(elf_shape "$P11L_TEST_BUILDDIR/.libs/bench-first-stage.so"))" \
	"at most +12,000"

fi

# 4. dlsym for a name that is not a getter.
if want dlsym; then
say "bench: dlsym x $N_DLSYM"
# This machine's speed jumps between two levels for seconds at a time, so
# the runs alternate and the fastest of each kind is compared.
d_none="" d_lib=""
for r in 1 2 3 4 5 6 7 8 9; do
	d_none="$d_none $("$P11L_TEST_BUILDDIR/bench-dlsym" "$N_DLSYM")"
	d_lib="$d_lib $(LD_PRELOAD=$lib "$P11L_TEST_BUILDDIR/bench-dlsym" "$N_DLSYM")"
done
dn=$(echo $d_none | tr ' ' '\n' | sort -n | head -n 1) dl=$(echo $d_lib | tr ' ' '\n' | sort -n | head -n 1)
row "dlsym(handle, \"strlen\"), ns per call (fastest of 9 alternating runs of $N_DLSYM)" "$dn" "$dl" "+$(awk -v a="$dn" -v b="$dl" 'BEGIN { printf "%.2f", b - a }') ns" "under +20 ns"

fi

# 2. Sequential signing on an uncapped SoftHSM2 token, the settings in turn.
p11l_softhsm_setup >/dev/null || bail_out "no SoftHSM2 token"
P11L_CONF=$P11L_TMP/openssl.cnf
p11l_engine_conf "$P11L_CONF" "$P11L_SOFTHSM"
p11l_engine_data
if want sign; then
# bench-pair runs the settings in turn, the order turned each round, and
# takes each round's ratio: a drift of the machine's speed cancels out of
# it, where medians of each setting taken apart keep it (their ratio moved
# by 1 to 3 points between runs, more than the 1 % to resolve).
say "bench: $N_SIGN rounds of openssl dgst -sign without the library, inline, default, with signals, a minimal preload"
sign_pair() {
	OPENSSL_CONF=$P11L_CONF "$PAIR" "$@" -- openssl dgst -sha256 -engine pkcs11 -keyform engine \
		-sign "pkcs11:token=$P11L_TOKEN_LABEL;object=$P11L_RSA_KEY;type=private;pin-value=$P11L_PIN" \
		-out "$P11L_TMP/b.sig" "$P11L_TMP/data"
}
sign_pair "$N_SIGN" + LD_PRELOAD="$lib" P11LOGOUT_TIMEOUT=0 + LD_PRELOAD="$lib" \
	+ LD_PRELOAD="$lib" P11LOGOUT_SIGNALS=TERM,INT,HUP + LD_PRELOAD="$MINIMAL" >"$P11L_TMP/p.sign"
f=$P11L_TMP/p.sign
mn=$(bp "$f" "side 0" 4) mi=$(bp "$f" "side 1" 4) ml=$(bp "$f" "side 2" 4) msig=$(bp "$f" "side 3" 4)
row "openssl dgst -sign, median wall time per process, µs ($N_SIGN rounds of the five in turn, $(bp_failed "$f") failed); ratio: the median of the rounds' ratios (95 % confidence interval)" "$mn" "$ml" "ratio $(bp3 "$f" "ratio 2/0" 4) (a preload of one empty function: $(bp3 "$f" "ratio 4/0" 4))" "within 2 %"
row "the same with P11LOGOUT_TIMEOUT=0 (release inline, no bound), µs" "$mn" "$mi" "ratio $(bp3 "$f" "ratio 1/0" 4)" "(anchor: no bound at all)"
row "the default (the bound's watchdog thread) against the inline release, the same rounds, µs" "inline: $mi" "default: $ml" "ratio $(bp3 "$f" "ratio 2/1" 4), CPU time $(bp3 "$f" "ratio 2/1" 8); $(bpd "$f" "ratio 2/1" 13) µs" "within 1 %"
row "the same with P11LOGOUT_SIGNALS=TERM,INT,HUP, never signalled, against it off, µs" "off: $ml" "on: $msig" "ratio $(bp3 "$f" "ratio 3/2" 4)" "the same cost"

# The watchdog against its floor: one plain thread of the program's own,
# started where the watchdog is posted (tests/bench-thread.c), the release
# inline.  Every side preloads bench-thread.so, so that it costs them all
# alike.  Sides: 0 inline, 1 inline and the plain thread, 2 default.
say "bench: the watchdog against a plain thread, $N_WD rounds of exit-driver and $N_SIGN of signing"
two="$lib $THREAD"
"$PAIR" "$N_WD" LD_PRELOAD="$two" P11LOGOUT_TIMEOUT=0 + LD_PRELOAD="$two" P11LOGOUT_TIMEOUT=0 BENCH_THREAD=1 \
	+ LD_PRELOAD="$two" -- "$P11L_TEST_BUILDDIR/exit-driver" exit "$P11L_TEST_BUILDDIR/.libs/odd-module.so" 1 0 \
	>"$P11L_TMP/p.wd"
sign_pair "$N_SIGN" LD_PRELOAD="$two" P11LOGOUT_TIMEOUT=0 + LD_PRELOAD="$two" P11LOGOUT_TIMEOUT=0 BENCH_THREAD=1 \
	+ LD_PRELOAD="$two" >"$P11L_TMP/p.wds"
floor() {
	printf '%s rounds, %s µs a process inline, %s failed: watchdog %s µs, plain thread %s µs' "$2" \
		"$(bp "$1" "side 0" 4)" "$(bp_failed "$1")" "$(bpd "$1" "ratio 2/0" 13)" "$(bpd "$1" "ratio 1/0" 13)"
}
row "what the watchdog adds to a process against the inline release, and what one plain thread of the program's own adds at the same point (tests/bench-thread.c): the median of the rounds' differences (95 % confidence interval)" \
	"exit-driver and odd-module, $(floor "$P11L_TMP/p.wd" "$N_WD")" \
	"openssl dgst -sign, $(floor "$P11L_TMP/p.wds" "$N_SIGN")" \
	"watchdog / plain thread, wall time: $(bp3 "$P11L_TMP/p.wd" "ratio 2/1" 4) and $(bp3 "$P11L_TMP/p.wds" "ratio 2/1" 4)" \
	"no more than the plain thread"

fi

# 3. Calls that reach the module, from pkcs11-spy traces.
if want spy; then
say "bench: pkcs11-spy call counts"
p11l_engine_conf "$P11L_CONF" "$P11L_SPY"
count_calls() {
	rm -f "$P11L_TMP/c.trace"
	PKCS11SPY=$P11L_SOFTHSM PKCS11SPY_OUTPUT=$P11L_TMP/c.trace OPENSSL_CONF=$P11L_CONF \
		env $1 openssl dgst -sha256 -engine pkcs11 -keyform engine \
		-sign "pkcs11:token=$P11L_TOKEN_LABEL;object=$P11L_RSA_KEY;type=private;pin-value=$P11L_PIN" \
		-out "$P11L_TMP/c.sig" "$P11L_TMP/data" >/dev/null 2>&1
	crc=$?
	p11l_spy_calls "$P11L_TMP/c.trace" >"$P11L_TMP/c.calls"
	echo "$(wc -l <"$P11L_TMP/c.calls") calls, exit $crc"
}
c_none=$(count_calls "")
c_lib=$(count_calls "LD_PRELOAD=$lib")
extra=$(p11l_spy_calls "$P11L_TMP/c.trace" | tail -n 2 | awk '{ printf "%s%s %s", sep, $1, $2; sep = ", " }')
c_force=$(count_calls "PKCS11_FORCE_CLEANUP=1")
row "calls reaching the module per process (pkcs11-spy)" "$c_none" "$c_lib; last two: $extra" "PKCS11_FORCE_CLEANUP=1 without the library: $c_force (libp11 $(dpkg-query -W -f '${Version}' libengine-pkcs11-openssl 2>/dev/null) has no such option)" "+1 C_Logout, + the session closes"

fi

# 5. Many sequential processes against the session-capped fixture.
if [ -e "$CAPPED_MODULE" ]; then
	capped_token "$P11L_TMP/cap" >/dev/null 2>&1 || bail_out "no token for the fixture"
	capped_env "$P11L_TMP/pool"
	export SOFTHSM2_CONF=$P11L_TMP/cap/softhsm2.conf
	p11l_engine_conf "$P11L_CONF" "$CAPPED_MODULE"
fi
if [ -e "$CAPPED_MODULE" ] && want capped; then
	say "bench: $N_CAPPED sequential signing processes against the fixture, cap 16"
	ok_n=0 i=0 t0=$(now_ns)
	while [ $i -lt "$N_CAPPED" ]; do
		OPENSSL_CONF=$P11L_CONF LD_PRELOAD=$lib openssl dgst -sha256 -engine pkcs11 -keyform engine \
			-sign "pkcs11:token=t;object=k1;type=private;pin-value=1234" \
			-out "$P11L_TMP/cap.sig" "$P11L_TMP/data" >/dev/null 2>&1 && ok_n=$((ok_n + 1))
		i=$((i + 1))
	done
	secs=$(( ($(now_ns) - t0) / 1000000 ))
	row "signing processes against a 16-session capped token" "(fails from the 17th)" "$ok_n of $N_CAPPED in $((secs / 1000)).$(printf %03d $((secs % 1000))) s; taken after: $(capped_count)" "" "$N_CAPPED of $N_CAPPED"
fi

# 6. 64 processes at once against a cap of 16 with P11LOGOUT_WAIT, each
# login held 0.5 s, next to the same 64 one after another.
if [ -e "$CAPPED_MODULE" ] && [ -d "$P11L_TMP/cap" ] && want p64; then
	say "bench: 64 parallel processes with P11LOGOUT_WAIT, cap 16, logins held 0.5 s; then 64 sequential"
	capped_env "$P11L_TMP/pool64"
	CAPPED_HOLD_MS=500
	export CAPPED_HOLD_MS
	# Each process on its own copy of the token: SoftHSM2's file store is
	# not safe for logins from several processes at once.
	i=0
	while [ $i -lt 64 ]; do
		capped_token_copy "$P11L_TMP/cap" "$P11L_TMP/p64/$i" || bail_out "token copy"
		i=$((i + 1))
	done
	one64() {
		SOFTHSM2_CONF=$P11L_TMP/p64/$1/softhsm2.conf OPENSSL_CONF=$P11L_CONF \
			LD_PRELOAD=$lib P11LOGOUT_WAIT=120 openssl dgst -sha256 -engine pkcs11 -keyform engine \
			-sign "pkcs11:token=t;object=k1;type=private;pin-value=1234" \
			-out "$P11L_TMP/p64/$1.sig" "$P11L_TMP/data" >/dev/null 2>&1 &&
			echo ok >"$P11L_TMP/p64/$1.ok"
	}
	t0=$(now_ns) i=0
	while [ $i -lt 64 ]; do one64 $i & i=$((i + 1)); done
	wait
	par_ms=$(( ($(now_ns) - t0) / 1000000 ))
	par_ok=$(ls "$P11L_TMP"/p64/*.ok 2>/dev/null | wc -l)
	par_taken=$(capped_count)
	rm -f "$P11L_TMP"/p64/*.ok
	t0=$(now_ns) i=0
	while [ $i -lt 64 ]; do one64 $i; i=$((i + 1)); done
	seq_ms=$(( ($(now_ns) - t0) / 1000000 ))
	seq_ok=$(ls "$P11L_TMP"/p64/*.ok 2>/dev/null | wc -l)
	row "64 signing processes, cap 16, logins held 0.5 s, P11LOGOUT_WAIT=120" "sequential: $seq_ok of 64 in $((seq_ms / 1000)).$(printf %03d $((seq_ms % 1000))) s" "all at once: $par_ok of 64 in $((par_ms / 1000)).$(printf %03d $((par_ms % 1000))) s; taken after: $par_taken" "$(awk -v a="$seq_ms" -v b="$par_ms" 'BEGIN { printf "%.1fx faster", a / b }')" "64 of 64"
	unset CAPPED_HOLD_MS
fi

# 7. N processes at once (256 by default) against a cap of 16, logins held
# 0.5 s, P11LOGOUT_WAIT=300: the waiters' queue against per-process
# backoff (the queue made unavailable), and without the library.
# Then the same with a slow C_Login (500 ms, sessions given back at once),
# and with P11LOGOUT_MAX_SESSIONS=16 against a fixture that answers the
# 17th login CKR_DEVICE_ERROR, which no wait can retry.
if [ -e "$CAPPED_MODULE" ] && { want fair || want slow || want places; }; then
	say "bench: $N_FAIR processes at once, cap 16: the queue, backoff only, a slow login, the host-wide limit"
	fw_t0=$(date +%s)
	fair_wait_setup "$P11L_TMP/fair" "$N_FAIR" || bail_out "no tokens for the fair-wait runs"
	say "bench: $N_FAIR token copies in $(( $(date +%s) - fw_t0 )) s"
	capped_env "$P11L_TMP/pool-fair"
	mkdir -p "$P11L_TMP/run"
	# fair ARGS...: one run; sets f_ok f_ms f_taken f_stats f_refused.
	fair() {
		"$CAPPED_COUNT" --reset >/dev/null
		set -- CAPPED_MAX_SESSIONS=16 CAPPED_HOLD_MS=500 PKCS11_MODULE_PATH="$CAPPED_MODULE" \
			XDG_RUNTIME_DIR="$P11L_TMP/run" "$@"
		r=$(fair_wait_run "$P11L_TMP/fair" "$N_FAIR" "$@")
		f_ok=${r% *} f_ms=${r#* } f_taken=$(capped_count)
		f_stats=$(fair_wait_waits "$P11L_TMP/fair" "$N_FAIR" | fair_wait_stats)
		# Logins the module refused: each waiter's retries but the last,
		# and its first try (the library's debug log counts the retries).
		f_refused=$(cat "$P11L_TMP"/fair/[0-9]*/err | sed -n 's/.*C_Login: no session free; tried again \([0-9]*\) times -> .*/\1/p' |
			awk '{ s += $1 } END { print s + 0 }')
		# And as the fixture counted them.
		f_refused_module=$(cat "$CAPPED_STATE_DIR/refused" 2>/dev/null | wc -l)
	}
	secs() { echo "$(($1 / 1000)).$(printf %03d $(($1 % 1000)))"; }
	# The control without the library costs as much as a run and only
	# shows 16 let in: BENCH_FAIR_CONTROL=1 runs it.
	n_col="(not run: BENCH_FAIR_CONTROL=1)"
	if [ "${BENCH_FAIR_CONTROL:-0}" = 1 ] && want fair; then
		t=$(date +%s); fair; say "bench: without the library in $(( $(date +%s) - t )) s"
		n_col="$f_ok of $N_FAIR in $(secs "$f_ms") s (the rest refused)"
	fi
	ideal_ms=$((N_FAIR * 500 / 16))
	# fair_row MEASURE TARGET: the row of the last run.
	fair_row() {
		set -- "$1" "$2" $f_stats
		row "$1" "$n_col" \
			"$f_ok of $N_FAIR in $(secs "$f_ms") s; taken after: $f_taken; wait $3 / $4 / $5; refused logins reaching the module: $f_refused (the fixture's count: $f_refused_module)" \
			"$(awk -v t="$f_ms" -v i="$ideal_ms" -v m="$3" -v x="$5" 'BEGIN { printf "%.2f x ideal; max = %.2f x median", t / i, (m > 0 ? x / m : 0) }')" \
			"$2"
	}
	if want fair; then
	t=$(date +%s); fair LD_PRELOAD="$lib" P11LOGOUT_WAIT=300 P11LOGOUT_DEBUG=1; say "bench: with the queue in $(( $(date +%s) - t )) s"
	fair_row "$N_FAIR signing processes at once, cap 16, logins held 0.5 s, P11LOGOUT_WAIT=300 (ideal $((ideal_ms / 1000)) s); wait per process, ms: from the module's first CKR_SESSION_COUNT to the login that succeeded (0 for those let in at once), median / p99 / max" \
		"all $N_FAIR; at most 1.25 x ideal; max at most 3 x median"
	t=$(date +%s); fair LD_PRELOAD="$lib" P11LOGOUT_WAIT=300 P11LOGOUT_DEBUG=1 XDG_RUNTIME_DIR="$P11L_TMP/no-such-dir"; say "bench: with backoff only in $(( $(date +%s) - t )) s"
	fair_row "the same without the queue (its lock file unusable: every waiter backs off on its own, 20 ms doubling to 1 s, jittered)" "(anchor)"
	fi
	if want slow; then
	t=$(date +%s); fair LD_PRELOAD="$lib" P11LOGOUT_WAIT=300 P11LOGOUT_DEBUG=1 CAPPED_HOLD_MS=0 CAPPED_LOGIN_MS=500; say "bench: slow login in $(( $(date +%s) - t )) s"
	fair_row "$N_FAIR signing processes at once, cap 16, the C_Login call itself taking 0.5 s (a far network HSM; sessions given back at once), P11LOGOUT_WAIT=300 (ideal $((ideal_ms / 1000)) s); wait median / p99 / max, ms" \
		"all $N_FAIR; at most 1.5 x ideal; max at most 3 x median"
	fi
	if want places; then
	t=$(date +%s); fair LD_PRELOAD="$lib" P11LOGOUT_WAIT=300 P11LOGOUT_DEBUG=1 P11LOGOUT_MAX_SESSIONS=16 CAPPED_FULL_RV=DEVICE_ERROR; say "bench: host-wide limit in $(( $(date +%s) - t )) s"
	fair_row "$N_FAIR signing processes at once, P11LOGOUT_MAX_SESSIONS=16, a fixture of cap 16 that answers the 17th login CKR_DEVICE_ERROR, logins held 0.5 s, P11LOGOUT_WAIT=300 (ideal $((ideal_ms / 1000)) s); wait for a place median / p99 / max, ms" \
		"all $N_FAIR; at most 1.25 x ideal; 0 refused at the module; max at most 3 x median"
	fi
	rm -rf "$P11L_TMP/fair"
fi

# 8. The record's cost per session call: H sessions kept open, then
# open+close pairs, against the fake module whose calls cost the same
# whatever is open (bench-sessions-module.c).
if want record; then
	say "bench: open+close pairs with H sessions held, 1 and 8 threads"
	BS=$P11L_TEST_BUILDDIR/bench-sessions BSM=$P11L_TEST_BUILDDIR/.libs/bench-sessions-module.so
	N_PAIRS=${BENCH_PAIRS:-1000000}
	rec_cells=""
	for th in 1 8; do
		for held in 0 10000; do
			# Alternating, the fastest of 5 of each (as for dlsym).
			bn="" bl=""
			for r in 1 2 3 4 5; do
				bn="$bn $("$BS" "$BSM" "$held" "$N_PAIRS" "$th")"
				bl="$bl $(LD_PRELOAD=$lib "$BS" "$BSM" "$held" "$N_PAIRS" "$th")"
			done
			bn=$(echo $bn | tr ' ' '\n' | sort -n | head -n 1) bl=$(echo $bl | tr ' ' '\n' | sort -n | head -n 1)
			rec_cells="$rec_cells${rec_cells:+; }$th thread(s), H=$held: $bn / $bl ns (+$(awk -v a="$bn" -v b="$bl" 'BEGIN { printf "%.1f", b - a }'))"
		done
	done
	row "C_OpenSession + C_CloseSession pair with H sessions held, ns, without / with (fastest of 5 alternating runs of $N_PAIRS pairs)" "" "$rec_cells" "" "at most +50 ns, not growing with H"
fi

say "bench: done in $(( $(date +%s) - bench_t0 )) s"
echo "Commit $(git -C "$P11L_TOP_SRCDIR" rev-parse --short HEAD 2>/dev/null || echo unknown), $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m)"
echo
echo "| measure | without | with libp11logout | difference | target |"
echo "|---|---|---|---|---|"
printf '%s' "$rows"
