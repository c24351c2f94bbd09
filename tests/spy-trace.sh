# Readers for call traces of the real-component tests.  Sourced, never run.
#
# pkcs11-spy (PKCS11SPY_OUTPUT) writes one block per call:
#     13: C_Login
#     2026-11-28 20:26:43.018
#     [in] hSession = 0x1
#     ...
#     Returned:  0 CKR_OK
# p11-kit's "log-calls: yes" writes to stderr:
#     C_Login
#       IN: hSession = S1
#     C_Login = CKR_OK
#
# Both are reduced to one "NAME RV" line per call, in call order; RV is "-"
# when the call has no return line (a trace cut short).

# p11l_spy_calls TRACE
p11l_spy_calls() {
	awk '
		/^[0-9]+: C_[A-Za-z0-9_]+[ \t\r]*$/ {
			if (name != "") print name, "-"
			name = $2; next
		}
		/^Returned:/ {
			if (name != "") { print name, $3; name = "" }
		}
		END { if (name != "") print name, "-" }
	' "$1"
}

# p11l_kitlog_calls LOG
p11l_kitlog_calls() {
	LC_ALL=C awk '/^C_[A-Za-z0-9_]+ = [A-Z0-9_]+/ { print $1, $3 }' "$1"
}

# p11l_calls_count CALLS NAME [RV]: how many NAME calls (returning RV).
p11l_calls_count() {
	awk -v n="$2" -v r="${3:-}" '
		$1 == n && (r == "" || $2 == r) { c++ }
		END { print c + 0 }
	' "$1"
}

# p11l_calls_last CALLS NAME [RV]: 1-based position of the last NAME call
# (returning RV), 0 when there is none.
p11l_calls_last() {
	awk -v n="$2" -v r="${3:-}" '
		$1 == n && (r == "" || $2 == r) { p = NR }
		END { print p + 0 }
	' "$1"
}

# p11l_calls_last_rv CALLS NAME: return value of the last NAME call, or
# "none".
p11l_calls_last_rv() {
	awk -v n="$2" '$1 == n { r = $2 } END { print (r == "" ? "none" : r) }' "$1"
}

# p11l_spy_sessions TRACE WHAT: the sessions a pkcs11-spy trace left open
# (opened, and not closed by C_CloseSession, by a C_CloseAllSessions of
# their slot, or by C_Finalize).  WHAT=end: their handles at the end of the
# trace, one per line; WHAT=finalize: how many were open when the last
# C_Finalize was called (0 without one).  C_CloseAllSessions closes only
# its slot's: libp11 0.4.21's engine passes a slot other than the one its
# session is on.
p11l_spy_sessions() {
	awk -v what="$2" '
		function flush() {
			if (name == "C_Finalize") at = n
			if (rv == "CKR_OK") {
				if (name == "C_OpenSession" && h != "" && !(h in open)) {
					open[h] = slot; n++
				} else if (name == "C_CloseSession" && (h in open)) {
					delete open[h]; n--
				} else if (name == "C_CloseAllSessions") {
					for (k in open)
						if (open[k] == slot) { delete open[k]; n-- }
				} else if (name == "C_Finalize") {
					for (k in open) delete open[k]
					n = 0
				}
			}
			name = ""; h = ""; rv = ""; slot = ""
		}
		/^[0-9]+: C_[A-Za-z0-9_]+[ \t\r]*$/ { flush(); name = $2; next }
		/^\[in\] slotID = / { slot = $4 }
		name == "C_OpenSession" && /^\[out\] \*phSession = / { h = $4 }
		name == "C_CloseSession" && /^\[in\] hSession = / { h = $4 }
		/^Returned:/ { rv = $3; flush() }
		END {
			flush()
			if (what == "finalize") print at + 0
			else for (k in open) print k
		}
	' "$1"
}
p11l_spy_open_sessions() { p11l_spy_sessions "$1" end; }
p11l_spy_open_at_finalize() { p11l_spy_sessions "$1" finalize; }

# p11l_calls_logout_first NONE LIB: LIB is NONE with one "C_Logout CKR_OK"
# right before NONE's last C_Finalize, and nothing else added (the logout
# the library adds to a program's own C_Finalize while logged in).
p11l_calls_logout_first() {
	awk -v at="$(p11l_calls_last "$1" C_Finalize)" \
		'NR == at { print "C_Logout CKR_OK" } { print }' "$1" | cmp -s - "$2"
}

# p11l_spy_fixture [engine | engine-so] [proxy] [provider] [p11-run]
# [COMMAND[:PACKAGE]]...: the preamble of the tests of real consumers traced
# by pkcs11-spy in front of SoftHSM2.  Skips the test (saying why) where
# SoftHSM2, pkcs11-spy, what is named (engine: the libp11 engine and an
# openssl command that takes -engine; engine-so: the engine alone, for a
# tool whose own libcrypto loads it; p11-kit-proxy, pkcs11-provider) or a COMMAND
# (from PACKAGE) is missing; fails where the library (or p11-run) is not
# built; then makes the private directory (P11L_TMP) and the token.
# Sourced after tap-lib.sh and softhsm-setup.sh.
p11l_spy_fixture() {
	if why=$(p11l_softhsm_missing); then skip_all "$why"; fi
	[ -r "$P11L_SPY" ] || skip_all "pkcs11-spy (OpenSC) not found at $P11L_SPY"
	for need in "$@"; do
		case $need in
		engine) if why=$(p11l_engine_missing); then skip_all "$why"; fi ;;
		engine-so) [ -r "$P11L_ENGINE" ] ||
			skip_all "libp11 openssl engine not found at $P11L_ENGINE (libengine-pkcs11-openssl)" ;;
		proxy) [ -r "$P11L_P11KIT_PROXY" ] ||
			skip_all "p11-kit-proxy not found at $P11L_P11KIT_PROXY" ;;
		provider) [ -r "$P11L_PROVIDER" ] ||
			skip_all "pkcs11-provider not installed ($P11L_PROVIDER; packaged from Debian 13 on, not in Debian 12)" ;;
		p11-run) [ -x "${P11L_RUN:-}" ] ||
			bail_out "p11-run not built: ${P11L_RUN:-unset}" ;;
		*:*) command -v "${need%%:*}" >/dev/null 2>&1 ||
			skip_all "${need%%:*} not installed (${need#*:})" ;;
		*) command -v "$need" >/dev/null 2>&1 ||
			skip_all "$need not installed" ;;
		esac
	done
	[ -r "$P11L_LIB" ] || bail_out "library not built: $P11L_LIB"
	p11l_tmpdir
	p11l_softhsm_setup || bail_out "cannot create the SoftHSM2 token"
}
