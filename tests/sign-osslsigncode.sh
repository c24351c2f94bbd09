#!/bin/sh
# osslsigncode (Authenticode), one process per file as users run it, with
# the key on the token through the libp11 engine (-pkcs11engine,
# -pkcs11module: pkcs11-spy in front of SoftHSM2), RSA and EC keys, without
# and with the library.  The run without it is observed first: a tool that
# leaves its login behind must get exactly one C_Logout (CKR_OK) from the
# library; one that cleans up by itself must see not one extra call.  Each
# signed file must verify against the certificate.

. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/consumer-lib.sh"

p11l_cons_fixture engine osslsigncode
p11l_cons_pe "$P11L_TMP/hello.exe" 3 ||
	skip_all "cannot make a PE file with cc and ld -m i386pep: $(head -n 1 "$P11L_TMP/pe.log")"
diag "$(osslsigncode --version 2>&1 | head -n 1)"

for key in "$P11L_RSA_KEY" "$P11L_EC_KEY"; do
	n=osslsigncode-$key
	# OPENSSL_CONF unset: osslsigncode configures the engine itself.
	p11l_cons_pair "$n" "$P11L_TMP/$n.exe" env -u OPENSSL_CONF osslsigncode sign \
		-pkcs11engine "$P11L_ENGINE" -pkcs11module "$P11L_SPY" \
		-certs "$P11L_TMP/$key.crt" -key "$(p11l_cons_uri "$key")" \
		-in "$P11L_TMP/hello.exe" -out "$P11L_TMP/$n.exe"
	p11l_cons_verified "$n" osslsigncode verify -CAfile "$P11L_TMP/$key.crt" -in
	p11l_cons_check "$n"
done

done_testing
