#!/bin/sh
# pkcs11-provider (the OpenSSL 3 provider; Debian 13 ships 1.0, unstable
# 1.3, Debian 12 none) with "openssl dgst -sign pkcs11:...", one process
# per signature, RSA and EC keys, pkcs11-spy in front of SoftHSM2, in three
# configurations: the default (PIN in the URI), pkcs11-module-quirks =
# no-deinit, and the PIN from a file (pkcs11-module-token-pin = file:...).
# Each is run without the library, with it, and with it in
# P11LOGOUT_MODE=finalize.  The run without it is observed first:
#  - a login left behind (no-deinit, and 1.0 in every configuration):
#    exactly one C_Logout, CKR_OK, with the library;
#  - a login the provider releases itself at exit (1.3: C_Finalize from
#    OPENSSL_cleanup, which runs after the library's exit handler): see
#    p11l_cons_check_late in consumer-lib.sh;
#  - a crash at exit (1.0 with SoftHSM2 2.6.1: C_CloseSession from
#    OPENSSL_cleanup, status 139), without the library: with it the status
#    must be 0 or the same; in finalize mode it must be 0.
# In finalize mode: exit 0, exactly one C_Logout and one C_Finalize from the
# library, both CKR_OK, after the last signature.  Every signature must
# verify.

. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/consumer-lib.sh"

p11l_cons_fixture provider
echo "$P11L_PIN" >"$P11L_TMP/pin"
diag "$(openssl version)"
diag "pkcs11-provider: $P11L_PROVIDER"

# conf NAME LINE...: $NAME.cnf, pkcs11-provider with the extra LINEs.
conf() {
	p11l_c=$1
	shift
	p11l_cons_provider_conf "$P11L_TMP/$p11l_c.cnf" "$@"
}
conf default
conf no-deinit 'pkcs11-module-quirks = no-deinit'
conf pin-file "pkcs11-module-token-pin = file:$P11L_TMP/pin"

# A config that does not work would pass nothing: it must load the provider.
if env -u LD_PRELOAD OPENSSL_CONF="$P11L_TMP/default.cnf" PKCS11SPY=$P11L_SOFTHSM \
	PKCS11SPY_OUTPUT=/dev/null openssl list -providers 2>/dev/null | grep -q pkcs11; then
	ok "openssl loads pkcs11-provider from the configuration"
else
	not_ok "openssl loads pkcs11-provider from the configuration"
fi

# verify_sig KEY SIG: SIG is a signature of the data by KEY.
verify_sig() {
	openssl dgst -sha256 -verify "$P11L_TMP/$1.pub" -signature "$2" "$P11L_TMP/data"
}

P11L_CONS_CRASHES=1
P11L_CONS_LATE=1
for c in default no-deinit pin-file; do
	for key in "$P11L_RSA_KEY" "$P11L_EC_KEY"; do
		n=provider-$c-$key
		uri="pkcs11:token=$P11L_TOKEN_LABEL;object=$key;type=private"
		[ "$c" = pin-file ] || uri="$uri?pin-value=$P11L_PIN"
		set -- env OPENSSL_CONF="$P11L_TMP/$c.cnf" openssl dgst -sha256 \
			-sign "$uri" -out "$P11L_TMP/$n.sig" "$P11L_TMP/data"
		p11l_cons_pair "$n" "$P11L_TMP/$n.sig" "$@"
		p11l_cons_verified "$n" verify_sig "$key"
		p11l_cons_check "$n"

		# Finalize mode.
		f=$n-finalize
		rm -f "$P11L_TMP/$n.sig"
		p11l_cons_run "$f" finalize "$@"
		if [ "$rc" -eq 0 ]; then ok "$f: exits 0"
		else not_ok "$f: exits 0"; p11l_cons_show "$f"; fi
		if verify_sig "$key" "$P11L_TMP/$n.sig" >/dev/null 2>&1; then
			ok "$f: the signature verifies"
		else
			not_ok "$f: the signature verifies"
		fi
		calls=$P11L_TMP/$f.calls
		lo=$(p11l_calls_count "$calls" C_Logout CKR_OK)
		lop=$(p11l_calls_last "$calls" C_Logout CKR_OK)
		si=$(p11l_cons_last_sign "$calls")
		# The first C_Finalize after the last signature: the library's.
		fin=$(awk -v s="$si" 'NR > s && $1 == "C_Finalize" { print NR, $2; exit }' "$calls")
		if [ "$lo" -eq 1 ] && [ "$si" -gt 0 ] && [ "$lop" -gt "$si" ] &&
			[ "${fin#* }" = CKR_OK ] && [ "${fin%% *}" -gt "$lop" ]; then
			ok "$f: one C_Logout, then C_Finalize, both CKR_OK, after the last signature"
		else
			not_ok "$f: one C_Logout, then C_Finalize, both CKR_OK, after the last signature"
			diag "C_Logout CKR_OK: $lo (last at $lop), last signature at $si, first C_Finalize after it: ${fin:-none}"
			p11l_cons_show "$f"
		fi
	done
done

done_testing
