#!/bin/sh
# evmctl ima_sign (IMA), one process per file, with the key on the token
# through the libp11 engine (--engine pkcs11, OPENSSL_CONF naming
# pkcs11-spy in front of SoftHSM2), RSA and EC keys, without and with the
# library; the run without it is observed first (see consumer-lib.sh).  The
# signature goes to FILE.sig (--sigfile: no security.ima xattr needed) and
# must pass evmctl ima_verify with the certificate, and fail on a changed
# file.

. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/consumer-lib.sh"
# The certificates carry a subject key identifier: evmctl 1.4 takes the key
# id from it (--keyid-from-cert; a pkcs11: key needs one) and crashes
# without it.
p11l_cons_fixture engine evmctl:ima-evm-utils

# ima_verify FILE KEY: evmctl checks FILE against FILE.sig.
ima_verify() {
	evmctl ima_verify --sigfile --key "$P11L_TMP/$2.der" "$1"
}

for key in "$P11L_RSA_KEY" "$P11L_EC_KEY"; do
	n=evmctl-$key
	cp "$P11L_TMP/data" "$P11L_TMP/$n"
	p11l_cons_pair "$n" "$P11L_TMP/$n.sig" env OPENSSL_CONF="$P11L_CONF" \
		evmctl ima_sign --engine pkcs11 --sigfile \
		--keyid-from-cert "$P11L_TMP/$key.crt" \
		--key "$(p11l_cons_uri "$key")" "$P11L_TMP/$n"
	for m in none lib; do
		case $m in none) w=without ;; *) w=with ;; esac
		cp "$P11L_TMP/$n-$m.signed" "$P11L_TMP/$n.sig" 2>/dev/null
		if ima_verify "$P11L_TMP/$n" "$key" >"$P11L_TMP/$n-$m.verify" 2>&1; then
			ok "$n: the signature made $w the library verifies"
		else
			not_ok "$n: the signature made $w the library verifies"
			sed 's/^/#   /' "$P11L_TMP/$n-$m.verify" | head -n 20
		fi
	done
	cp "$P11L_TMP/$n" "$P11L_TMP/$n-changed"
	cp "$P11L_TMP/$n.sig" "$P11L_TMP/$n-changed.sig"
	echo changed >>"$P11L_TMP/$n-changed"
	if ima_verify "$P11L_TMP/$n-changed" "$key" >/dev/null 2>&1; then
		not_ok "$n: the signature does not verify a changed file"
	else
		ok "$n: the signature does not verify a changed file"
	fi
	p11l_cons_check "$n"
done

done_testing
