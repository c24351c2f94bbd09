#!/bin/sh
# The openssl tools that take a key through a provider, as users run them
# where there are no engines (OpenSSL 4.0) and on OpenSSL 3: "openssl req
# -x509" and "openssl cms -sign" with a pkcs11: key, one process each, RSA
# and EC keys, pkcs11-spy in front of SoftHSM2, through each provider that
# is installed: pkcs11-provider (default, and pkcs11-module-quirks =
# no-deinit) and libp11's pkcs11prov.  Each run without the library is
# observed first (see consumer-lib.sh: one C_Logout, CKR_OK, where the tool
# leaked; where the provider releases at exit, after the library's
# handler, the library's C_Logout comes first and the tool's own clean-up
# still succeeds); the exit status stays the one without the library;
# every certificate and CMS signature verifies.  Then provider-client, an
# application that signs the same way and returns from main with or
# without OPENSSL_cleanup(): with OpenSSL 4, libcrypto tears down only
# after that call, so pkcs11-provider's own clean-up happens only then.

. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/consumer-lib.sh"

provs=
[ -r "$P11L_PROVIDER" ] && provs="pkcs11-provider pkcs11-provider-no-deinit"
p11l_libp11_provider >/dev/null && provs="$provs libp11-provider"
[ -n "$provs" ] ||
	skip_all "neither pkcs11-provider ($P11L_PROVIDER) nor libp11's provider ($(p11l_libp11_provider)) is installed"
p11l_cons_fixture
diag "$(openssl version); providers:$(printf ' %s' $provs)"

p11l_cons_provider_conf "$P11L_TMP/pkcs11-provider.cnf"
p11l_cons_provider_conf "$P11L_TMP/pkcs11-provider-no-deinit.cnf" 'pkcs11-module-quirks = no-deinit'
p11l_libp11_provider_conf "$P11L_TMP/libp11-provider.cnf" "$P11L_SPY"

PCLIENT=$P11L_TEST_BUILDDIR/provider-client
[ -x "$PCLIENT" ] || PCLIENT=
# verify_sig KEY SIG: SIG is a signature of the data by KEY.
verify_sig() {
	openssl dgst -sha256 -verify "$P11L_TMP/$1.pub" -signature "$2" "$P11L_TMP/data"
}
# self_signed CERT: CERT verifies against itself.
self_signed() {
	openssl verify -CAfile "$1" "$1"
}
# cms_verifies KEY CMS: CMS (DER) is a signature of the data by KEY.
cms_verifies() {
	openssl cms -verify -binary -inform DER -in "$2" -content "$P11L_TMP/data" \
		-CAfile "$P11L_TMP/$1.crt" -purpose any -out /dev/null
}

P11L_CONS_CRASHES=1
P11L_CONS_LATE=1
for p in $provs; do
	cnf=$P11L_TMP/$p.cnf
	if env -u LD_PRELOAD OPENSSL_CONF="$cnf" PKCS11SPY=$P11L_SOFTHSM PKCS11SPY_OUTPUT=/dev/null \
		openssl list -providers 2>/dev/null | grep -q -i pkcs11; then
		ok "$p: openssl loads it from the configuration"
	else
		not_ok "$p: openssl loads it from the configuration"
	fi
	for key in "$P11L_RSA_KEY" "$P11L_EC_KEY"; do
		uri="pkcs11:token=$P11L_TOKEN_LABEL;object=$key;type=private"
		case $p in
		pkcs11-provider*) uri="$uri?pin-value=$P11L_PIN" ;;
		*) uri="$uri;pin-value=$P11L_PIN" ;;
		esac

		n=req-$p-$key
		p11l_cons_pair "$n" "$P11L_TMP/$n.crt" env OPENSSL_CONF="$cnf" \
			openssl req -new -x509 -key "$uri" -subj "/CN=$key" -days 30 \
			-addext keyUsage=critical,digitalSignature \
			-addext extendedKeyUsage=emailProtection \
			-addext "subjectAltName=email:$key@example.org" \
			-out "$P11L_TMP/$n.crt"
		p11l_cons_verified "$n" self_signed
		p11l_cons_check "$n"
		# The signer's certificate of the CMS runs.
		cp "$P11L_TMP/$n-none.signed" "$P11L_TMP/$key.crt" 2>/dev/null

		n=cms-$p-$key
		p11l_cons_pair "$n" "$P11L_TMP/$n.der" env OPENSSL_CONF="$cnf" \
			openssl cms -sign -binary -in "$P11L_TMP/data" \
			-signer "$P11L_TMP/$key.crt" -inkey "$uri" -outform DER \
			-out "$P11L_TMP/$n.der"
		p11l_cons_verified "$n" cms_verifies "$key"
		p11l_cons_check "$n"

		for how in return cleanup; do
			n=app-$how-$p-$key
			if [ -z "$PCLIENT" ]; then
				ok "# SKIP $n: built without libcrypto (no provider-client)"
				continue
			fi
			set -- "$PCLIENT"
			[ "$how" = cleanup ] && set -- "$PCLIENT" --cleanup
			p11l_cons_pair "$n" "$P11L_TMP/$n.sig" env OPENSSL_CONF="$cnf" \
				"$@" "$uri" "$P11L_TMP/data" "$P11L_TMP/$n.sig"
			p11l_cons_verified "$n" verify_sig "$key"
			p11l_cons_check "$n"
		done
	done
done

done_testing
