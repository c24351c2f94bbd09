#!/bin/sh
# OpenSSL 4.0: a program that signs, calls OPENSSL_cleanup() and signs
# again (issue 21, defect 1), with a real stack: sign-after-cleanup (EVP,
# the key from its pkcs11: URI through OSSL_STORE) and pkcs11-provider,
# pkcs11-spy in front of SoftHSM2, RSA and EC keys.  There the call only
# sets a flag (the teardown runs from libcrypto's destructor, after every
# exit handler), so without the library both signatures verify; with it
# too, the exit status is the same, and one C_Logout, CKR_OK, reaches the
# token after both signatures, from the exit handler.  Where libcrypto is 3.x the call tears
# OpenSSL down and no program signs after it: skipped.
# cleanup-then-sign.sh is the hermetic version.
. "$P11L_TEST_SRCDIR/tap-lib.sh"

PROG=$P11L_TEST_BUILDDIR/sign-after-cleanup
[ -x "$PROG" ] || skip_all "sign-after-cleanup not built (no libcrypto at configure time)"
major=$(env -u LD_PRELOAD "$PROG" version) || bail_out "sign-after-cleanup version failed"
[ "$major" -ge 4 ] ||
	skip_all "libcrypto $major.x: its OPENSSL_cleanup() tears OpenSSL down, nothing signs after it"
. "$P11L_TEST_SRCDIR/consumer-lib.sh"
p11l_cons_fixture provider
diag "$(openssl version); pkcs11-provider: $P11L_PROVIDER"
p11l_cons_provider_conf "$P11L_TMP/default.cnf"

verify() {
	openssl dgst -sha256 -verify "$P11L_TMP/$1.pub" -signature "$2" \
		"$P11L_TMP/data" >/dev/null 2>&1
}

for key in "$P11L_RSA_KEY" "$P11L_EC_KEY"; do
	for m in none lib; do
		n=$key-$m
		p11l_cons_run "$n" "$m" env P11LOGOUT_DEBUG=1 OPENSSL_CONF="$P11L_TMP/default.cnf" \
			"$PROG" "$(p11l_cons_uri "$key")" "$P11L_TMP/data" \
			"$P11L_TMP/$n.sig1" "$P11L_TMP/$n.sig2"
		echo "$rc" >"$P11L_TMP/$n.rc"
	done
	w=$key-none l=$key-lib
	if [ "$(cat "$P11L_TMP/$w.rc")" = 0 ]; then
		ok "$key: exit status 0 without the library (control)"
	else
		not_ok "$key: exit status 0 without the library (control)"
		p11l_cons_show "$w"
	fi
	check "$key: both signatures verify without the library (control)" \
		sh -c "$(command -v openssl) dgst -sha256 -verify '$P11L_TMP/$key.pub' -signature '$P11L_TMP/$w.sig1' '$P11L_TMP/data' >/dev/null 2>&1 &&
			$(command -v openssl) dgst -sha256 -verify '$P11L_TMP/$key.pub' -signature '$P11L_TMP/$w.sig2' '$P11L_TMP/data' >/dev/null 2>&1"
	if [ "$(cat "$P11L_TMP/$l.rc")" = "$(cat "$P11L_TMP/$w.rc")" ]; then
		ok "$key: the same exit status with the library"
	else
		not_ok "$key: the same exit status with the library ($(cat "$P11L_TMP/$l.rc"))"
		p11l_cons_show "$l"
	fi
	check "$key: the signature before OPENSSL_cleanup() verifies with the library" \
		verify "$key" "$P11L_TMP/$l.sig1"
	check "$key: the signature after it verifies with the library" \
		verify "$key" "$P11L_TMP/$l.sig2"
	same "$key: the same output with the library" "$P11L_TMP/$w.out" "$P11L_TMP/$l.out"
	calls=$P11L_TMP/$l.calls
	signs() { echo $(($(p11l_calls_count "$1" C_Sign CKR_OK) + $(p11l_calls_count "$1" C_SignFinal CKR_OK))); }
	check "$key: as many signing calls reach the token as without the library ($(signs "$calls"), control $(signs "$P11L_TMP/$w.calls"))" \
		[ "$(signs "$calls")" = "$(signs "$P11L_TMP/$w.calls")" ]
	lo=$(p11l_calls_count "$calls" C_Logout CKR_OK)
	check "$key: one C_Logout, CKR_OK, with the library ($lo; control $(p11l_calls_count "$P11L_TMP/$w.calls" C_Logout CKR_OK))" \
		[ "$lo" = 1 ]
	signed=$(awk '$1 == "C_Logout" && $2 == "CKR_OK" { exit }
		($1 == "C_Sign" || $1 == "C_SignFinal") && $2 == "CKR_OK" { n++ }
		END { print n + 0 }' "$calls")
	check "$key: it comes after both signatures ($signed before it)" [ "$signed" = 2 ]
	check "$key: no release at OPENSSL_cleanup()" \
		sh -c "! grep -q 'OPENSSL_cleanup: releasing' '$P11L_TMP/$l.err'"
	check "$key: the release is the exit handler's" \
		grep -q '^libp11logout: exit: .*C_Logout(session [0-9]*) -> CKR_OK' "$P11L_TMP/$l.err"
done
done_testing
