#!/bin/sh
# NSS's certutil and cmsutil with the keys of the token: pkcs11-spy (in
# front of SoftHSM2) added with modutil to a private NSS database.
# certutil -R signs a certificate request and cmsutil -S a CMS message, each
# with the RSA and the EC key, without and with the library.  The run
# without it is observed first (see consumer-lib.sh); NSS closes its
# sessions and finalizes by itself, so the expected claim is "not one extra
# call".  The request must verify, the CMS signature too (openssl cms).

. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/consumer-lib.sh"

# The libp11 engine makes the certificates.
p11l_cons_fixture engine certutil:libnss3-tools cmsutil:libnss3-tools modutil:libnss3-tools

# The certificates go onto the token with their key's CKA_ID: NSS pairs a
# certificate with its private key by CKA_ID.
for k in "$P11L_RSA_KEY:$P11L_RSA_ID" "$P11L_EC_KEY:$P11L_EC_ID"; do
	env -u LD_PRELOAD pkcs11-tool --module "$P11L_SOFTHSM" \
		--token-label "$P11L_TOKEN_LABEL" --login --pin "$P11L_PIN" \
		--write-object "$P11L_TMP/${k%%:*}.der" --type cert \
		--id "${k#*:}" --label "${k%%:*}" >/dev/null 2>&1 ||
		bail_out "cannot store the certificate ${k%%:*} on the token"
done

db=sql:$P11L_TMP/nssdb
mkdir "$P11L_TMP/nssdb"
echo "$P11L_PIN" >"$P11L_TMP/pin"
env -u LD_PRELOAD certutil -N -d "$db" --empty-password >/dev/null 2>&1 ||
	bail_out "certutil -N cannot make the NSS database"
PKCS11SPY=$P11L_SOFTHSM PKCS11SPY_OUTPUT=/dev/null env -u LD_PRELOAD \
	modutil -dbdir "$db" -add p11spy -libfile "$P11L_SPY" -force \
	>"$P11L_TMP/modutil.log" 2>&1 ||
	bail_out "modutil cannot add pkcs11-spy: $(head -n 3 "$P11L_TMP/modutil.log")"

for k in "$P11L_RSA_KEY:$P11L_RSA_ID" "$P11L_EC_KEY:$P11L_EC_ID"; do
	key=${k%%:*} id=${k#*:}
	# A certificate request signed by the token key whose CKA_ID is id.
	n=certutil-$key
	p11l_cons_pair "$n" "$P11L_TMP/$n.csr" certutil -R -d "$db" \
		-h "$P11L_TOKEN_LABEL" -f "$P11L_TMP/pin" -k "$id" \
		-s "CN=$key request" -a -o "$P11L_TMP/$n.csr"
	p11l_cons_verified "$n" openssl req -verify -noout -in
	p11l_cons_check "$n"

	# A CMS signed message (-G: with signed attributes, a signing time).
	n=cmsutil-$key
	p11l_cons_pair "$n" "$P11L_TMP/$n.p7s" cmsutil -S -G -d "$db" \
		-f "$P11L_TMP/pin" -N "$P11L_TOKEN_LABEL:$key" -Y NONE \
		-i "$P11L_TMP/data" -o "$P11L_TMP/$n.p7s"
	p11l_cons_verified "$n" openssl cms -verify -binary -inform DER \
		-CAfile "$P11L_TMP/$key.crt" -purpose any -out /dev/null -in
	p11l_cons_check "$n"
done

done_testing
