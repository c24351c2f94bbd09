# Helpers for the tests of real consumers (signing tools, curl, NSS,
# pkcs11-provider): each runs a tool on the SoftHSM2 token through
# pkcs11-spy, once without the library and once with it, then observes
# what the run without it left behind and asserts the matching claim.
# Sourced after tap-lib.sh; brings the token, trace and engine helpers.  A
# test file starts with p11l_cons_fixture.

. "$P11L_TEST_SRCDIR/softhsm-setup.sh"
. "$P11L_TEST_SRCDIR/spy-trace.sh"
. "$P11L_TEST_SRCDIR/engine-lib.sh"

# p11l_cons_fixture [engine | provider] [COMMAND[:PACKAGE]]...: the
# preamble: p11l_spy_fixture with the same words (skips where a component
# or COMMAND is missing, makes P11L_TMP and the token), the data to sign
# ($P11L_TMP/data) and, with engine, P11L_CONF (the libp11 engine in front
# of the spy) and each key's certificate (p11l_cons_certs).
p11l_cons_fixture() {
	# The tool's own libcrypto loads the engine: the engine must exist,
	# whether or not the openssl command takes -engine.
	p11l_cf=
	for p11l_w in "$@"; do
		[ "$p11l_w" = engine ] && p11l_w=engine-so
		p11l_cf="$p11l_cf $(p11l_quote "$p11l_w")"
	done
	eval "p11l_spy_fixture$p11l_cf"
	p11l_engine_data
	case " $* " in
	*" engine "*)
		P11L_CONF=$P11L_TMP/engine.cnf
		p11l_engine_conf "$P11L_CONF" "$P11L_SPY"
		p11l_cons_certs || bail_out "cannot make the certificates"
		;;
	esac
}

# p11l_cons_run TAG MODE COMMAND...: COMMAND with pkcs11-spy loading
# SoftHSM2 and writing $TAG.trace; MODE is none (no libp11logout), lib
# (preloaded) or finalize (preloaded, P11LOGOUT_MODE=finalize).  Leaves
# $TAG.out, $TAG.err, $TAG.calls and rc.  At most 120 s: a hang fails.
p11l_cons_run() {
	tag=$1 mode=$2
	shift 2
	# Third-party programs leak at exit (not our blocks): LeakSanitizer
	# is off for them under the ASan step; ASan still checks every access.
	case $mode in
	none) set -- env -u LD_PRELOAD -u P11LOGOUT_DEBUG -u P11LOGOUT_MODE "$@" ;;
	lib) set -- env -u P11LOGOUT_MODE LD_PRELOAD="$(p11l_preload)" \
		$P11L_ASAN_NOLEAKS $P11L_VG "$@" ;;
	finalize) set -- env P11LOGOUT_MODE=finalize LD_PRELOAD="$(p11l_preload)" \
		$P11L_ASAN_NOLEAKS $P11L_VG "$@" ;;
	esac
	# The spy appends to its output: each run starts from nothing.
	rm -f "$P11L_TMP/$tag".*
	PKCS11SPY=$P11L_SOFTHSM PKCS11SPY_OUTPUT=$P11L_TMP/$tag.trace \
		timeout 120 "$@" >"$P11L_TMP/$tag.out" 2>"$P11L_TMP/$tag.err" </dev/null
	rc=$?
	if [ -f "$P11L_TMP/$tag.trace" ]; then
		p11l_spy_calls "$P11L_TMP/$tag.trace" >"$P11L_TMP/$tag.calls"
	else
		: >"$P11L_TMP/$tag.calls"
	fi
}

# p11l_cons_state TAG: what the run left on the token, from its trace:
#   nologin   no C_Login returned CKR_OK
#   leaked    logged in at exit: after the last successful C_Login, no
#             C_Logout, no C_Finalize returned CKR_OK, and a session is
#             still open (closing the last one also ends the login)
#   finalized its own C_Finalize (CKR_OK) came after the last successful
#             C_Login, with no C_Logout between and a session still open:
#             the standard ends the login, but a module may not
#             (yubihsm_pkcs11 keeps the device's session)
#   released  the program ended its login itself
p11l_cons_state() {
	c=$P11L_TMP/$1.calls
	li=$(p11l_calls_last "$c" C_Login CKR_OK)
	if [ "$li" -eq 0 ]; then echo nologin; return; fi
	lo=$(p11l_calls_last "$c" C_Logout CKR_OK)
	fi_=$(p11l_calls_last "$c" C_Finalize CKR_OK)
	open=$(p11l_spy_open_sessions "$P11L_TMP/$1.trace" | wc -l)
	if [ "$lo" -lt "$li" ] && [ "$fi_" -lt "$li" ] && [ "$open" -gt 0 ]; then
		echo leaked
	elif [ "$lo" -lt "$li" ] && [ "$fi_" -gt "$li" ] &&
		[ "$(p11l_calls_last "$c" C_Finalize)" -eq "$fi_" ] &&
		[ "$(p11l_spy_open_at_finalize "$P11L_TMP/$1.trace")" -gt 0 ]; then
		echo finalized
	else
		echo released
	fi
}

# p11l_cons_last_sign CALLS: position of the last successful C_Sign or
# C_SignFinal (0 when none).
p11l_cons_last_sign() {
	a=$(p11l_calls_last "$1" C_Sign CKR_OK)
	b=$(p11l_calls_last "$1" C_SignFinal CKR_OK)
	if [ "$a" -gt "$b" ]; then echo "$a"; else echo "$b"; fi
}

# p11l_cons_show TAG: diagnostics of one run.
p11l_cons_show() {
	diag "$1: exit status $(cat "$P11L_TMP/$1.rc" 2>/dev/null || echo "$rc"); stderr:"
	grep -a -v '^libp11logout:' "$P11L_TMP/$1.err" | head -n 30 | sed 's/^/#   /'
	diag "$1: last calls in the spy trace:"
	tail -n 10 "$P11L_TMP/$1.calls" | sed 's/^/#   /'
}

# p11l_cons_pair NAME OUTFILE COMMAND...: runs COMMAND as NAME-none and
# NAME-lib; rc_none and rc_lib hold the exit statuses.  OUTFILE, what the
# command writes (or "-"), is removed before each run and kept after it as
# NAME-none.signed and NAME-lib.signed, so that both can be verified.
p11l_cons_pair() {
	n=$1 p11l_out=$2
	shift 2
	for p11l_m in none lib; do
		[ "$p11l_out" = - ] || rm -f "$p11l_out"
		p11l_cons_run "$n-$p11l_m" "$p11l_m" "$@"
		echo "$rc" >"$P11L_TMP/$n-$p11l_m.rc"
		eval "rc_$p11l_m=\$rc"
		if [ "$p11l_out" != - ] && [ -f "$p11l_out" ]; then
			mv "$p11l_out" "$P11L_TMP/$n-$p11l_m.signed"
		fi
		# A tool that hangs by itself shows nothing about the library.
		p11l_cons_hung "$n" && break
	done
}

# p11l_cons_hung NAME: the run without the library was killed by the
# timeout (status 124): the stack hangs by itself.  The checks of NAME are
# then skipped, with that reason (never passed).
p11l_cons_hung() {
	[ "$(cat "$P11L_TMP/$1-none.rc" 2>/dev/null)" = 124 ]
}

# p11l_cons_verified NAME COMMAND...: COMMAND, run once on each signed file
# (its last argument, appended: NAME-none.signed, then NAME-lib.signed),
# accepts both.
p11l_cons_verified() {
	n=$1
	shift
	p11l_cons_hung "$n" && return 0
	for p11l_m in none lib; do
		case $p11l_m in none) p11l_w=without ;; *) p11l_w=with ;; esac
		if [ -f "$P11L_TMP/$n-$p11l_m.signed" ] &&
			"$@" "$P11L_TMP/$n-$p11l_m.signed" >"$P11L_TMP/$n-$p11l_m.verify" 2>&1; then
			ok "$n: the output signed $p11l_w the library verifies"
		else
			not_ok "$n: the output signed $p11l_w the library verifies"
			sed 's/^/#   /' "$P11L_TMP/$n-$p11l_m.verify" 2>/dev/null | head -n 20
		fi
	done
}

# p11l_cons_check NAME: the claim that matches the run without the library
# (NAME-none), checked on the run with it (NAME-lib):
#  - the tool logged in and signed, in both runs, and exited 0 both times;
#  - it leaked the login: exactly one C_Logout, returning CKR_OK, reaches
#    the module with the library, after the last signature, and none
#    without it; with the library nothing is left logged in;
#  - it ended with its own C_Finalize, logged in with a session open: with
#    the library exactly one C_Logout, CKR_OK, right before that
#    C_Finalize, and nothing else added;
#  - it released the login itself: with the library the trace is the
#    trace without it, call for call (not one extra call).
# Sets cons_state to the baseline's state.
p11l_cons_check() {
	n=$1 none=$P11L_TMP/$1-none.calls lib=$P11L_TMP/$1-lib.calls
	if p11l_cons_hung "$n"; then
		diag "$n: hangs WITHOUT the library (killed after 120 s); stderr:"
		head -n 10 "$P11L_TMP/$n-none.err" | sed 's/^/#   /'
		ok "# SKIP $n: the tool hangs without the library, nothing to compare"
		cons_state=hung
		return 0
	fi
	cons_state=$(p11l_cons_state "$n-none")
	diag "$n: without the library the tool exits with status $rc_none, login $cons_state"
	if [ "${P11L_CONS_CRASHES:-0}" = 1 ] && [ "$rc_none" -ne 0 ]; then
		# A tool that fails at exit by itself: the library must not make
		# it worse (it may make it better).
		if [ "$rc_lib" -eq 0 ] || [ "$rc_lib" -eq "$rc_none" ]; then
			ok "$n: with the library exits 0 or as without it ($rc_none)"
		else
			not_ok "$n: with the library exits 0 or as without it ($rc_none)"
			p11l_cons_show "$n-lib"
		fi
		diag "$n: exit status $rc_none without the library, $rc_lib with it"
	elif [ "$rc_none" -eq 0 ] && [ "$rc_lib" -eq 0 ]; then
		ok "$n: exits 0 without and with the library"
	else
		not_ok "$n: exits 0 without and with the library"
		p11l_cons_show "$n-none"; p11l_cons_show "$n-lib"
	fi
	if [ "$(p11l_cons_last_sign "$none")" -gt 0 ] && [ "$(p11l_cons_last_sign "$lib")" -gt 0 ]; then
		ok "$n: the token signed (C_Sign or C_SignFinal CKR_OK) in both runs"
	else
		not_ok "$n: the token signed (C_Sign or C_SignFinal CKR_OK) in both runs"
		p11l_cons_show "$n-none"; p11l_cons_show "$n-lib"
	fi
	case $cons_state in
	leaked)
		check "$n: without the library no C_Logout reaches the module" \
			[ "$(p11l_calls_count "$none" C_Logout)" -eq 0 ]
		p11l_cons_one_logout
		lo=$(p11l_calls_last "$lib" C_Logout CKR_OK)
		si=$(p11l_cons_last_sign "$lib")
		if [ "$lo" -gt "$si" ] && [ "$si" -gt 0 ]; then
			ok "$n: the C_Logout comes after the last signature"
		else
			not_ok "$n: the C_Logout comes after the last signature"
			diag "C_Logout at call $lo, last signature at call $si"; p11l_cons_show "$n-lib"
		fi
		# Until the tool exits, the library changes nothing it asked for:
		# its trace starts with the whole trace without the library.
		nn=$(wc -l <"$none")
		if head -n "$nn" "$lib" | cmp -s - "$none"; then
			ok "$n: with the library the trace starts with the whole trace without it"
		else
			not_ok "$n: with the library the trace starts with the whole trace without it"
			head -n "$nn" "$lib" | diff "$none" - | head -n 20 | sed 's/^/#   /'
		fi
		st=$(p11l_cons_state "$n-lib")
		if [ "$st" = released ]; then
			ok "$n: with the library the login is released at exit"
		else
			not_ok "$n: with the library the login is released at exit"
			diag "state with the library: $st"; p11l_cons_show "$n-lib"
		fi
		;;
	finalized)
		diag "$n: without the library its own C_Finalize came logged in, no C_Logout, $(p11l_spy_open_at_finalize "$P11L_TMP/$n-none.trace") session(s) open"
		if [ "${P11L_CONS_LATE:-0}" = 1 ]; then
			p11l_cons_check_late
			return
		fi
		if p11l_calls_logout_first "$none" "$lib"; then
			ok "$n: with the library exactly one C_Logout, CKR_OK, right before its own C_Finalize; nothing else added"
		else
			not_ok "$n: with the library exactly one C_Logout, CKR_OK, right before its own C_Finalize; nothing else added"
			diff "$none" "$lib" | head -n 20 | sed 's/^/#   /'
		fi
		;;
	released)
		if [ "${P11L_CONS_LATE:-0}" = 1 ] && [ "$(p11l_calls_count "$none" C_Logout)" -eq 0 ]; then
			p11l_cons_check_late
			return
		fi
		check "$n: with the library not one extra call reaches the module" \
			cmp -s "$none" "$lib"
		if ! cmp -s "$none" "$lib"; then
			diff "$none" "$lib" | head -n 20 | sed 's/^/#   /'
		fi
		k=$(p11l_calls_count "$none" C_Logout)
		check "$n: as many C_Logout with the library as without ($k)" \
			[ "$(p11l_calls_count "$lib" C_Logout)" -eq "$k" ]
		;;
	*)
		not_ok "$n: the tool logged in (C_Login CKR_OK) without the library"
		p11l_cons_show "$n-none"
		;;
	esac
}

# p11l_cons_one_logout: the run with the library ($lib) has exactly one
# C_Logout, and it returned CKR_OK.
p11l_cons_one_logout() {
	k=$(p11l_calls_count "$lib" C_Logout)
	kok=$(p11l_calls_count "$lib" C_Logout CKR_OK)
	if [ "$k" -eq 1 ] && [ "$kok" -eq 1 ]; then
		ok "$n: with the library exactly one C_Logout reaches the module, CKR_OK"
	else
		not_ok "$n: with the library exactly one C_Logout reaches the module, CKR_OK"
		diag "found $k C_Logout, $kok of them CKR_OK"; p11l_cons_show "$n-lib"
	fi
}

# p11l_cons_check_late: for a tool that releases its login in its own exit
# clean-up (a C_Finalize from OPENSSL_cleanup) which runs after the
# library's exit handler (P11L_CONS_LATE=1): the library cannot know that a
# release will follow, so it logs out first.  The claims: exactly one
# C_Logout, CKR_OK, after the last signature; the trace until then is the
# trace without the library; the tool's own C_Finalize still reaches the
# module and returns CKR_OK.  The tool's later calls on what was released
# are answered by the library; the rest must not fail at the module.
p11l_cons_check_late() {
	diag "$n: the tool releases its login itself at exit, after the library's handler"
	p11l_cons_one_logout
	lo=$(p11l_calls_last "$lib" C_Logout CKR_OK)
	si=$(p11l_cons_last_sign "$lib")
	head -n $((lo - 1)) "$none" >"$none.head"
	if [ "$lo" -gt "$si" ] && [ "$si" -gt 0 ] &&
		head -n $((lo - 1)) "$lib" | cmp -s - "$none.head"; then
		ok "$n: the C_Logout comes after the last signature; the trace until then is the trace without the library"
	else
		not_ok "$n: the C_Logout comes after the last signature; the trace until then is the trace without the library"
		diag "C_Logout at call $lo, last signature at call $si"; p11l_cons_show "$n-lib"
	fi
	check "$n: the tool's own C_Finalize still reaches the module, CKR_OK" \
		[ "$(p11l_calls_last_rv "$lib" C_Finalize)" = CKR_OK ]
	errs=$(awk -v l="$lo" 'NR > l && $2 != "CKR_OK"' "$lib" | sort | uniq -c | tr -s ' \n' ' ')
	# The tool's own clean-up after our release: what we ended is answered
	# by the library (issue 9.1), and nothing that still reaches the module
	# fails (before that rule, SoftHSM2 answered CKR_SESSION_HANDLE_INVALID).
	if [ -z "$errs" ]; then
		ok "$n: after the library's release, every call of the tool's own clean-up that reaches the module gets CKR_OK"
	else
		not_ok "$n: after the library's release, every call of the tool's own clean-up that reaches the module gets CKR_OK"
		diag "$n: answers other than CKR_OK: $errs"
	fi
}

# p11l_cons_certs: a self-signed certificate for each key of the token,
# signed by the token through the libp11 engine (without the library):
# $P11L_TMP/KEY.crt (PEM) and KEY.der, with a subject key identifier
# (evmctl takes its key id from it) and the usages of code signing, TLS
# client and S/MIME.  Needs P11L_CONF (p11l_engine_conf, module: the spy).
# Where the openssl command takes no -engine (OpenSSL 4.0; the tool under
# test may still have an OpenSSL 3 libcrypto that loads the engine),
# through pkcs11-provider, or else libp11's provider.
p11l_cons_certs() {
	p11l_ccnf=$P11L_CONF p11l_kopt="-engine pkcs11 -keyform engine" p11l_pin=";pin-value=$P11L_PIN"
	if p11l_engine_missing >/dev/null; then
		p11l_ccnf=$P11L_TMP/certs.cnf p11l_kopt=
		if [ -r "$P11L_PROVIDER" ]; then
			p11l_cons_provider_conf "$p11l_ccnf"
			p11l_pin="?pin-value=$P11L_PIN"
		elif p11l_libp11_provider >/dev/null; then
			p11l_libp11_provider_conf "$p11l_ccnf" "$P11L_SPY"
		else
			echo "openssl takes no -engine and no pkcs11 provider is installed" >&2
			return 1
		fi
	fi
	for p11l_k in "$P11L_RSA_KEY" "$P11L_EC_KEY"; do
		# shellcheck disable=SC2086
		env -u LD_PRELOAD OPENSSL_CONF="$p11l_ccnf" \
		PKCS11SPY=$P11L_SOFTHSM PKCS11SPY_OUTPUT=/dev/null \
			openssl req -new -x509 $p11l_kopt \
			-key "pkcs11:token=$P11L_TOKEN_LABEL;object=$p11l_k;type=private$p11l_pin" \
			-subj "/CN=$p11l_k" -days 30 \
			-addext subjectKeyIdentifier=hash \
			-addext keyUsage=critical,digitalSignature \
			-addext extendedKeyUsage=codeSigning,clientAuth,emailProtection \
			-addext "subjectAltName=email:$p11l_k@example.org" \
			-out "$P11L_TMP/$p11l_k.crt" >"$P11L_TMP/req-$p11l_k.log" 2>&1 &&
		openssl x509 -in "$P11L_TMP/$p11l_k.crt" -outform DER \
			-out "$P11L_TMP/$p11l_k.der" || {
			cat "$P11L_TMP/req-$p11l_k.log" >&2
			return 1
		}
	done
}

# p11l_cons_uri KEY: the key's PKCS#11 URI, PIN included.
p11l_cons_uri() {
	echo "pkcs11:token=$P11L_TOKEN_LABEL;object=$1;type=private;pin-value=$P11L_PIN"
}

# p11l_cons_pe FILE SUBSYSTEM: a minimal x86-64 PE32+ image that returns 0
# (SUBSYSTEM 3: a Windows console program, 10: a UEFI application), made
# with the C compiler and GNU ld's PE emulation (binutils), so that no
# binary is downloaded or stored in the tree.  Returns non-zero when the
# toolchain cannot make one (ld without i386pep, not x86-64).
p11l_cons_pe() {
	printf '%s\n' 'unsigned long long efi_main(void *a, void *b);' \
		'unsigned long long efi_main(void *a, void *b) { (void)a; (void)b; return 0; }' \
		>"$P11L_TMP/pe-stub.c"
	${CC:-cc} -c -O2 -fno-ident -ffreestanding -fno-stack-protector \
		-fno-asynchronous-unwind-tables -mno-red-zone -fpic \
		-o "$P11L_TMP/pe-stub.o" "$P11L_TMP/pe-stub.c" 2>"$P11L_TMP/pe.log" &&
	ld -m i386pep --subsystem "$2" -e efi_main -o "$1" "$P11L_TMP/pe-stub.o" \
		2>>"$P11L_TMP/pe.log"
}

# p11l_cons_provider_conf FILE LINE...: an OPENSSL_CONF that loads the
# default provider and pkcs11-provider, whose module is pkcs11-spy, with
# the extra LINEs in pkcs11-provider's section.
p11l_cons_provider_conf() {
	p11l_f=$1
	shift
	p11l_provider_conf "$p11l_f" "$P11L_SPY" "$@"
}
