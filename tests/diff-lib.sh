# The differential test's runs and readers (differential.sh,
# diff-regress.sh).  Sourced after tap-lib.sh, never run.
#
#   diff_fixture            the preamble: the driver and the fake module
#                           built, T; SoftHSM2's token (and a copy of it to
#                           restore before every run) where SoftHSM2 and
#                           pkcs11-spy are installed, else DIFF_NO_SPY says
#                           why
#   diff_run TAG KIND PRE MODE SEED
#                           one run of diff-driver SEED: KIND fake (the fake
#                           module, two slots), odd (odd-module: a token
#                           whose login a forked child shares) or spy
#                           (SoftHSM2 through
#                           pkcs11-spy, the token restored first;
#                           DIFF_FAKE_ENV: more VAR=VALUE words for the
#                           fake module); PRE ""
#                           or lib; MODE the P11LOGOUT_MODE.  Leaves TAG.out,
#                           .err, .rc and .trace (the module's log or the
#                           spy's trace, with the driver's "diff:" marks)
#   diff_calls TAG KIND     the trace as one line per call reaching the
#                           module, "NAME RV h=H slot=S out=O user=U" ("-"
#                           where absent), and the marks
#   diff_left_in TAG KIND   how many slots the program's process left
#                           logged in at the module, by the calls that
#                           reached it (a child's calls are its own)
#   diff_after_finalize TAG KIND
#                           the calls that reached the module after the
#                           program's own successful C_Finalize and before
#                           its next C_Initialize, "NAME RV" each
#   diff_seed KIND SEED [MODES [NAME]]
#                           the seed (or "script:...", its files named
#                           NAME) run without the
#                           library and with it in each mode (default:
#                           logout close finalize); prints one line per
#                           divergence, "MODE: WHAT", where WHAT starts
#                           with "documented:" for one README documents

DIFF_DRIVER=$P11L_TEST_BUILDDIR/diff-driver
DIFF_FAKE=$P11L_TEST_BUILDDIR/.libs/fake-module.so
DIFF_ODD=$P11L_TEST_BUILDDIR/.libs/odd-module.so

diff_fixture() {
	p11l_fixture "$P11L_LIB" "$DIFF_DRIVER" "$DIFF_FAKE" "$DIFF_ODD"
	p11l_hermetic
	unset PKCS11SPY PKCS11SPY_OUTPUT DIFF_MARK DIFF_SHOW DIFF_LATE_USE
	. "$P11L_TEST_SRCDIR/softhsm-setup.sh"
	DIFF_NO_SPY=
	if DIFF_NO_SPY=$(p11l_softhsm_missing); then :; elif [ ! -r "$P11L_SPY" ]; then
		DIFF_NO_SPY="pkcs11-spy (OpenSC) not found at $P11L_SPY"
	elif p11l_softhsm_setup >"$T/softhsm-setup.log" 2>&1; then
		cp -a "$P11L_TMP/softhsm/tokens" "$T/tokens.pristine" ||
			bail_out "cannot copy the token"
	else
		bail_out "cannot create the SoftHSM2 token"
	fi
}

diff_run() {
	d_tag=$1 d_kind=$2 d_pre=$3 d_mode=$4 d_seed=$5
	rm -f "$T/$d_tag.trace"
	[ "$d_pre" = lib ] && d_pre="$(p11l_preload)"
	d_pin=$PIN d_so=$PIN
	if [ "$d_kind" = spy ]; then
		rm -rf "$P11L_TMP/softhsm/tokens"
		cp -a "$T/tokens.pristine" "$P11L_TMP/softhsm/tokens"
		d_mod=$P11L_SPY d_pin=$P11L_PIN d_so=$P11L_SO_PIN
		set -- PKCS11SPY="$P11L_SOFTHSM" PKCS11SPY_OUTPUT="$T/$d_tag.trace" DIFF_SPIN=0
	elif [ "$d_kind" = odd ]; then
		d_mod=$DIFF_ODD
		set -- ODD_LOG="$T/$d_tag.trace"
	else
		d_mod=$DIFF_FAKE
		set -- FAKE_LOG="$T/$d_tag.trace" FAKE_SLOTS=2 FAKE_PIN="$PIN" ${DIFF_FAKE_ENV:-}
	fi
	# The valgrind step (P11L_VG) runs the preloaded driver under memcheck.
	if [ -n "$d_pre" ]; then
		env LD_PRELOAD="$d_pre" P11LOGOUT_MODE="$d_mode" DIFF_MARK="$T/$d_tag.trace" \
			timeout 60 env "$@" $P11L_VG "$DIFF_DRIVER" "$d_seed" "$d_mod" "$d_pin" "$d_so" \
			>"$T/$d_tag.out" 2>"$T/$d_tag.err" </dev/null
	else
		env -u LD_PRELOAD P11LOGOUT_MODE="$d_mode" DIFF_MARK="$T/$d_tag.trace" \
			timeout 60 env "$@" "$DIFF_DRIVER" "$d_seed" "$d_mod" "$d_pin" "$d_so" \
			>"$T/$d_tag.out" 2>"$T/$d_tag.err" </dev/null
	fi
	echo $? >"$T/$d_tag.rc"
	[ -f "$T/$d_tag.trace" ] || : >"$T/$d_tag.trace"
}

diff_calls() {
	if [ "$2" = spy ]; then
		awk '
			function flush() {
				if (name != "")
					print name, rv, "h=" h, "slot=" slot, "out=" out, "user=" user
				name = ""; rv = "-"; h = "-"; slot = "-"; out = "-"; user = "-"
			}
			/^diff: / { flush(); print; next }
			/^[0-9]+: C_[A-Za-z0-9_]+[ \t\r]*$/ { flush(); name = $2; next }
			/^\[in\] hSession = / { h = $4 }
			/^\[in\] slotID = / { slot = $4 }
			/^\[out\] \*phSession = / { out = $4 }
			/^\[in\] userType = / { user = $4 == "CKU_SO" ? 0 : $4 == "CKU_USER" ? 1 : 2 }
			/^Returned:/ { rv = $3; flush() }
			END { flush() }
		' "$T/$1.trace"
	elif [ "$2" = odd ]; then
		awk '
			/^diff: / { print; next }
			$1 == "odd" && $2 ~ /^C_/ {
				name = $2; sub(/\(.*/, "", name)
				slot = "-"; h = "-"
				if (match($0, /\(slot [0-9]+\)/)) slot = substr($0, RSTART + 6, RLENGTH - 7)
				else if (match($0, /\([0-9]+\)/)) h = substr($0, RSTART + 1, RLENGTH - 2)
				print name, $NF, "h=" h, "slot=" slot, "out=-", "user=-"
			}
		' "$T/$1.trace"
	else
		awk '
			/^diff: / { print; next }
			$1 == "fake1" && $2 ~ /^C_/ {
				h = "-"; slot = "-"; out = "-"; user = "-"
				for (i = 3; i <= NF; i++) {
					split($i, kv, "=")
					if (kv[1] == "session") h = kv[2]
					else if (kv[1] == "slot") slot = kv[2]
					else if (kv[1] == "user") user = kv[2]
				}
				if ($2 == "C_OpenSession") { out = h; h = "-" }
				print $2, $NF, "h=" h, "slot=" slot, "out=" out, "user=" user
			}
		' "$T/$1.trace"
	fi
}

# The token's view: a login is the slot's; it ends with C_Logout, the
# module's C_Finalize or C_Initialize, and on SoftHSM2 (spy) with the close
# of the slot's last session too.  The fake module keeps it until then.
diff_left_in() {
	# odd-module logs no user type (a context-specific login looks like a
	# login): its runs are compared, not counted.
	[ "$2" = odd ] && { echo 0; return; }
	diff_calls "$1" "$2" | awk -v kind="$2" '
		function v(f) { sub(/^[a-z]+=/, "", f); return f }
		function reset() { for (k in sess) delete sess[k]; for (k in n) delete n[k]
			for (k in login) delete login[k] }
		function closed(s) { if (--n[s] <= 0 && kind == "spy") login[s] = 0 }
		$0 == "diff: child begin" { child = 1; next }
		$0 == "diff: child end" { child = 0; next }
		child || /^diff: / || $2 != "CKR_OK" { next }
		{ h = v($3); slot = v($4); out = v($5); user = v($6) }
		$1 == "C_Initialize" || $1 == "C_Finalize" { reset(); next }
		$1 == "C_OpenSession" { sess[out] = slot; n[slot]++; next }
		$1 == "C_CloseSession" && (h in sess) { s = sess[h]; delete sess[h]; closed(s); next }
		$1 == "C_CloseAllSessions" {
			for (k in sess) if (sess[k] == slot) delete sess[k]
			n[slot] = 0; if (kind == "spy") login[slot] = 0; next
		}
		($1 == "C_Login" || $1 == "C_LoginUser") && (user == 0 || user == 1) {
			if (slot == "-") slot = sess[h]
			login[slot] = 1; next
		}
		$1 == "C_Logout" { if (slot == "-") slot = sess[h]; login[slot] = 0 }
		END { c = 0; for (k in login) c += login[k]; print c }
	'
}

diff_after_finalize() {
	diff_calls "$1" "$2" | awk '
		$0 == "diff: child begin" { child = 1; next }
		$0 == "diff: child end" { child = 0; next }
		$0 == "diff: finalized" && !child { after = 1; next }
		$0 == "diff: initialized" && !child { after = 0; next }
		$0 == "diff: spinning" { exit }
		/^diff: / || child { next }
		after { print $1, $2 }
	'
}

diff_seed() {
	d_kind=$1 d_s=$2 d_name=${4:-$2}
	d_w=$d_kind-$d_name-without
	diff_run "$d_w" "$d_kind" "" logout "$d_s"
	diff_after_finalize "$d_w" "$d_kind" >"$T/$d_w.after"
	for d_m in ${3:-logout close finalize}; do
		d_l=$d_kind-$d_name-$d_m
		diff_run "$d_l" "$d_kind" lib "$d_m" "$d_s"
		if cmp -s "$T/$d_w.out" "$T/$d_l.out"; then :
		elif diff_documented "$d_m" "$T/$d_w.out" "$T/$d_l.out"; then
			echo "$d_m: documented: $(diff "$T/$d_w.out" "$T/$d_l.out" | sed -n '2{p;q}')"
		else
			echo "$d_m: transcript: $(diff "$T/$d_w.out" "$T/$d_l.out" | sed -n '2{p;q}')"
		fi
		[ "$(cat "$T/$d_w.rc")" = "$(cat "$T/$d_l.rc")" ] ||
			echo "$d_m: status $(cat "$T/$d_w.rc") -> $(cat "$T/$d_l.rc")"
		cmp -s "$T/$d_w.err" "$T/$d_l.err" ||
			echo "$d_m: stderr: $(diff "$T/$d_w.err" "$T/$d_l.err" | sed -n '2{p;q}')"
		d_left=$(diff_left_in "$d_l" "$d_kind")
		[ "$d_left" = 0 ] || echo "$d_m: $d_left slot(s) left logged in"
		diff_after_finalize "$d_l" "$d_kind" >"$T/$d_l.after"
		cmp -s "$T/$d_w.after" "$T/$d_l.after" ||
			echo "$d_m: after the program's C_Finalize: $(diff "$T/$d_w.after" "$T/$d_l.after" | sed -n '2{p;q}')"
	done
}

# diff_documented MODE WITHOUT WITH: succeeds when the two transcripts
# differ only in divergences README "Limits" documents, each line pair:
#   a C_Logout the library answers CKR_USER_NOT_LOGGED_IN (0x101) on a
#     session its release closed, where the module, that session still
#     open, answers something else (SoftHSM2: CKR_OK when not logged in);
#   in mode finalize, C_CloseAllSessions of a slot that does not exist
#     answered CKR_OK after the release finalized the module (0x3 without);
#   after a forked child that logged in itself (CKR_OK) has ended, on a
#     token whose login the child shares with its parent (odd-module): the
#     release of the child's own login at its exit, which the parent then
#     sees (its C_Login gets CKR_OK, not CKR_USER_ALREADY_LOGGED_IN).
diff_documented() {
	[ "$(wc -l <"$2")" = "$(wc -l <"$3")" ] || return 1
	paste -d '\n' "$2" "$3" | awk -v mode="$1" '
		NR % 2 == 1 { a = $0; next }
		a ~ /^child: C_Login\(.*, (user|so)\) -> 0x0$/ { child_login = 1 }
		a ~ /^child exited/ && child_login { after_child = 1 }
		a == $0 { next }
		{
			b = $0
			sa = a; sb = b; sub(/ -> .*/, "", sa); sub(/ -> .*/, "", sb)
			if (sa != sb) exit 1
			if (after_child) next
			if (sa ~ /C_Logout\(/ && b ~ / -> 0x101$/) next
			if (mode == "finalize" && sa ~ /C_CloseAllSessions\(bogus-slot\)$/ &&
			    a ~ / -> 0x3$/ && b ~ / -> 0x0$/) next
			exit 1
		}
	'
}
