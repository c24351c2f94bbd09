#!/bin/sh
# sbsign (UEFI Secure Boot), one process per EFI binary, with the key on the
# token through the libp11 engine (--engine pkcs11, configured by an
# OPENSSL_CONF whose module is pkcs11-spy in front of SoftHSM2; from sbsign
# 0.9.5 on, through pkcs11-provider configured the same way), RSA and EC
# keys, without and with the library; the run without it is observed first
# (see consumer-lib.sh).  Each signed binary must pass sbverify.

. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/consumer-lib.sh"

p11l_cons_fixture engine sbsign:sbsigntool sbverify:sbsigntool
p11l_cons_pe "$P11L_TMP/hello.efi" 10 ||
	skip_all "cannot make an EFI binary with cc and ld -m i386pep: $(head -n 1 "$P11L_TMP/pe.log")"

# sbsign 0.9.5 loads a pkcs11: key through OpenSSL's "pkcs11" provider
# (pkcs11-provider), whatever --engine names; 0.9.4 and older through the
# engine.  The provider is loaded early: loaded lazily, it opens its first
# session from inside SoftHSM2's C_Login (SoftHSM2 uses OpenSSL too) and
# deadlocks.
sbver=$(sbsign --version 2>/dev/null | awk '{ print $2 }')
diag "sbsign $sbver"
case $sbver in
0.[0-8].* | 0.9.[0-4]) pin=";pin-value=$P11L_PIN" ;;
*)
	[ -r "$P11L_PROVIDER" ] ||
		skip_all "sbsign $sbver loads its key through pkcs11-provider, not installed ($P11L_PROVIDER)"
	P11L_CONF=$P11L_TMP/provider.cnf
	p11l_cons_provider_conf "$P11L_CONF" 'pkcs11-module-load-behavior = early'
	pin="?pin-value=$P11L_PIN"
	;;
esac

# The unsigned binary must not verify: sbverify does check something.
if sbverify --cert "$P11L_TMP/$P11L_RSA_KEY.crt" "$P11L_TMP/hello.efi" >/dev/null 2>&1; then
	not_ok "sbverify rejects the unsigned binary"
else
	ok "sbverify rejects the unsigned binary"
fi

for key in "$P11L_RSA_KEY" "$P11L_EC_KEY"; do
	n=sbsign-$key
	p11l_cons_pair "$n" "$P11L_TMP/$n.efi" env OPENSSL_CONF="$P11L_CONF" \
		sbsign --engine pkcs11 \
		--key "pkcs11:token=$P11L_TOKEN_LABEL;object=$key;type=private$pin" \
		--cert "$P11L_TMP/$key.crt" --output "$P11L_TMP/$n.efi" \
		"$P11L_TMP/hello.efi"
	p11l_cons_verified "$n" sbverify --cert "$P11L_TMP/$key.crt"
	p11l_cons_check "$n"
done

done_testing
