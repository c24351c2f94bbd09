#!/bin/sh
# The seed's scenario on the real yubihsm_pkcs11 module and the device
# simulator (16 sessions; the idle expiry set to 600 s so that it cannot
# hide a leak): 50 "openssl dgst -sha256 -sign" processes, one per file,
# one after another, through each stack present: libp11's engine, libp11's
# provider, pkcs11-provider by default and with pkcs11-module-quirks =
# no-deinit.
#  - Without the library, observed and reported: what the simulator
#    counted, and which of the known outcomes it is, the same for every
#    process: the stack leaks (processes 1-16 sign and each leaves its
#    device session, the 17th to 50th are refused: CKR_SESSION_COUNT), or
#    it releases by itself (50 sign, nothing left); and whether the
#    processes that signed crashed at exit.
#  - With it: 50 of 50 sign and verify, the open count is back at its
#    start (2 sessions held beforehand) after every process, and each
#    process ends exactly one device session with an authenticated CLOSE
#    SESSION (closed +1 each, +50 in all).

. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/yubihsm-stack-lib.sh"

ymod_fixture
ymod_stacks
[ -n "$YMOD_STACKS" ] || skip_all "no PKCS#11 stack for openssl here (libp11's engine or provider, pkcs11-provider)"
ymod_versions
N=50
CAP=16

# seq_run STACK NAME PRE: the N processes; one line per process in
# NAME.table: "I STATUS VERIFIED OPEN CLOSED REFUSED CREATED" (VERIFIED 1
# when its signature verifies; the simulator's counters after it).
seq_run() {
	sr_s=$1 sr_n=$2 sr_pre=$3
	: >"$T/$sr_n.table"
	for i in $(seq $N); do
		ymod_sign "$sr_s" "$sr_n.$i" "$sr_pre"
		sr_rc=$?
		sr_v=0
		ymod_verifies "$sr_n.$i" && sr_v=1
		ymod_counts
		echo "$i $sr_rc $sr_v $y_open $y_closed $y_refused $y_created" >>"$T/$sr_n.table"
	done
}

# classify NAME OPEN0 REFUSED0: the run without the library, as
# "KIND FIRST-FAILED SIGNERS-STATUSES": KIND clean (every process signed
# and left nothing open), leaks (processes 1 to CAP-OPEN0 signed and each
# left one session open, every later one did not sign, left nothing and
# was refused a session), or mixed (anything else).
classify() {
	awk -v o0="$2" -v r0="$3" -v cap=$CAP -v n=$N '
		{ i = $1; rc = $2; v = $3; d_open = $4 - po; d_ref = $6 - pr
		  if (NR == 1) { d_open = $4 - o0; d_ref = $6 - r0 }
		  po = $4; pr = $6
		  if (v) st[rc] = 1; else if (!ff) ff = i
		  if (!(v && d_open == 0)) clean = 0
		  if (i <= cap - o0) { if (!(v && d_open == 1)) leaks = 0 }
		  else if (v || d_open != 0 || d_ref < 1) leaks = 0 }
		BEGIN { clean = 1; leaks = 1; ff = 0 }
		END { k = clean ? "clean" : leaks ? "leaks" : "mixed"
		      s = ""; for (r in st) s = s (s == "" ? "" : ",") r
		      print k, ff, (s == "" ? "-" : s) }' "$T/$1.table"
}

for s in $YMOD_STACKS; do
	t0=$(date +%s)
	# --- without the library ---
	ymod_start --idle-timeout 600
	ymod_counts
	o0=$y_open c0=$y_closed r0=$y_refused k0=$y_created
	seq_run "$s" "$s-without" ""
	set -- $(classify "$s-without" "$o0" "$r0")
	kind=$1 first=$2 statuses=$3
	ymod_counts
	saw="created +$((y_created - k0)), closed +$((y_closed - c0)), refused +$((y_refused - r0)), open $o0 -> $y_open"
	signed=$(awk '$3 == 1' "$T/$s-without.table" | wc -l)
	case $statuses in
	-) exits="none signed" ;;
	*,*) exits="statuses $statuses" ;;
	0) exits="exit 0" ;;
	*) exits="crash at exit (status $statuses)" ;;
	esac
	ff=$first
	[ "$ff" = 0 ] && ff=none
	diag "$s without the library: $kind, $signed of $N signed, first failure: $ff; $exits; simulator: $saw"
	case $kind in
	clean) ok "$s without the library: the stack releases by itself (every process signed, none left a session)" ;;
	leaks)
		ok "$s without the library: processes 1-$((CAP - o0)) sign and each leaves its session; $((CAP - o0 + 1))-$N are refused"
		# The refusal itself is the simulator's count (classify); what
		# the stack says about it varies: pkcs11-provider names no cause.
		if ymod_refused_msg "$s-without.$first"; then
			diag "$s without the library: the ${first}th's error names the refused login: $(ymod_refused_line "$s-without.$first")"
		else
			diag "$s without the library: the ${first}th's error does not name the cause: $(head -n 1 "$T/$s-without.$first.err")"
		fi
		;;
	*)
		not_ok "$s without the library: one of the known outcomes for every process (leaks to the cap, or releases by itself)"
		sed 's/^/#   /' "$T/$s-without.table"
		ymod_show "$s-without.1"
		;;
	esac
	case $statuses in
	*,*) not_ok "$s without the library: every process that signed exits alike (statuses $statuses)" ;;
	*) ok "$s without the library: every process that signed exits alike ($exits)" ;;
	esac
	p11l_sim_stop

	# --- with the library ---
	ymod_start --idle-timeout 600
	ymod_take 2
	ymod_counts
	o1=$y_open c1=$y_closed r1=$y_refused k1=$y_created
	check "$s with the library: two sessions held beforehand (open $o1)" test "$o1" = 2
	seq_run "$s" "$s-with" lib
	ymod_counts
	bad=$(awk '$3 != 1 { printf " %s", $1 }' "$T/$s-with.table")
	check "$s with the library: $N of $N sign and verify${bad:+ (not:$bad)}" test -z "$bad"
	[ -z "$bad" ] || { set -- $bad; ymod_show "$s-with.$1"; }
	st=$(awk '{ print $2 }' "$T/$s-with.table" | sort -u | tr '\n' ' ')
	case $st in
	"0 ") ok "$s with the library: every process exits 0" ;;
	*)
		if [ "$st" = "$statuses " ]; then
			ok "$s with the library: every process exits as without it ($st)"
		else
			not_ok "$s with the library: every process exits 0 or as without it (statuses: $st)"
		fi
		;;
	esac
	off=$(awk -v o="$o1" '$4 != o { printf " %s(%s)", $1, $4 }' "$T/$s-with.table")
	check "$s with the library: the open count is back at its start ($o1) after every process${off:+ (not:$off)}" \
		test -z "$off"
	per=$(awk -v c="$c1" '{ if ($5 - c != 1) printf " %s(+%s)", $1, $5 - c; c = $5 }' "$T/$s-with.table")
	check "$s with the library: each process ends one device session with an authenticated CLOSE SESSION${per:+ (not:$per)}" \
		test -z "$per"
	check "$s with the library: $N authenticated CLOSE SESSIONs in all (got $((y_closed - c1)))" \
		test $((y_closed - c1)) = $N
	diag "$s with the library: simulator: created +$((y_created - k1)), closed +$((y_closed - c1)), refused +$((y_refused - r1)), open $o1 -> $y_open; $(($(date +%s) - t0)) s for both runs"
	p11l_sim_stop
done

ymod_done
