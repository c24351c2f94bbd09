# SoftHSM2 token for the real-component tests.  Sourced, never run.
#
# Needs P11L_TMP (a private temporary directory, see p11l_tmpdir) and
# P11L_SOFTHSM (the SoftHSM2 module).  Provides:
#
#   p11l_softhsm_missing   prints why the token cannot be made (a tool or
#                          module is absent) and returns 0; returns 1 when
#                          everything is there.
#   p11l_softhsm_setup     creates the token once per test script; returns
#                          non-zero (with a message on stderr) on failure.
#
# After p11l_softhsm_setup:
#   SOFTHSM2_CONF          exported; a softhsm2.conf whose tokendir is private
#   P11L_TOKEN_LABEL       token label (p11l)
#   P11L_PIN, P11L_SO_PIN  user PIN 1234, SO PIN 5678
#   P11L_RSA_KEY, P11L_EC_KEY        key labels k1 (RSA-2048) and e1 (P-256)
#   P11L_RSA_ID, P11L_EC_ID          their CKA_ID, hex (pkcs11-tool --sign
#                                    picks its key by --id, not by --label)
#   P11L_RSA_PUB, P11L_EC_PUB        their public keys, PEM, for openssl -verify

P11L_TOKEN_LABEL=p11l
P11L_PIN=1234
P11L_SO_PIN=5678
P11L_RSA_KEY=k1
P11L_EC_KEY=e1
P11L_RSA_ID=01
P11L_EC_ID=02

p11l_softhsm_missing() {
	for p11l_tool in softhsm2-util pkcs11-tool openssl; do
		if ! command -v "$p11l_tool" >/dev/null 2>&1; then
			echo "$p11l_tool not found in PATH"
			return 0
		fi
	done
	if [ ! -r "${P11L_SOFTHSM:-}" ]; then
		echo "SoftHSM2 module not found at '${P11L_SOFTHSM:-}' (set P11L_SOFTHSM)"
		return 0
	fi
	return 1
}

# p11l_softhsm_keypair LABEL ID KEYTYPE: generate a key pair on the token and
# write its public key as PEM to $P11L_TMP/LABEL.pub.
p11l_softhsm_keypair() {
	env -u LD_PRELOAD pkcs11-tool --module "$P11L_SOFTHSM" \
		--token-label "$P11L_TOKEN_LABEL" --login --pin "$P11L_PIN" \
		--keypairgen --key-type "$3" --label "$1" --id "$2" \
		>"$P11L_TMP/softhsm/keygen-$1.log" 2>&1 || {
		echo "softhsm-setup: key generation for $1 ($3) failed:" >&2
		cat "$P11L_TMP/softhsm/keygen-$1.log" >&2
		return 1
	}
	env -u LD_PRELOAD pkcs11-tool --module "$P11L_SOFTHSM" \
		--token-label "$P11L_TOKEN_LABEL" \
		--read-object --type pubkey --label "$1" \
		-o "$P11L_TMP/softhsm/$1.der" >/dev/null 2>&1 &&
	openssl pkey -pubin -inform DER -in "$P11L_TMP/softhsm/$1.der" \
		-out "$P11L_TMP/$1.pub" 2>/dev/null || {
		echo "softhsm-setup: cannot export the public key of $1" >&2
		return 1
	}
}

p11l_softhsm_setup() {
	: "${P11L_TMP:?p11l_softhsm_setup needs P11L_TMP}"
	mkdir -p "$P11L_TMP/softhsm/tokens" || return 1
	cat >"$P11L_TMP/softhsm/softhsm2.conf" <<EOF
directories.tokendir = $P11L_TMP/softhsm/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
EOF
	SOFTHSM2_CONF=$P11L_TMP/softhsm/softhsm2.conf
	export SOFTHSM2_CONF

	softhsm2-util --module "$P11L_SOFTHSM" --init-token --free \
		--label "$P11L_TOKEN_LABEL" \
		--pin "$P11L_PIN" --so-pin "$P11L_SO_PIN" \
		>"$P11L_TMP/softhsm/init.log" 2>&1 || {
		echo "softhsm-setup: softhsm2-util --init-token failed:" >&2
		cat "$P11L_TMP/softhsm/init.log" >&2
		return 1
	}
	p11l_softhsm_keypair "$P11L_RSA_KEY" "$P11L_RSA_ID" rsa:2048 || return 1
	p11l_softhsm_keypair "$P11L_EC_KEY" "$P11L_EC_ID" EC:prime256v1 || return 1
	P11L_RSA_PUB=$P11L_TMP/$P11L_RSA_KEY.pub
	P11L_EC_PUB=$P11L_TMP/$P11L_EC_KEY.pub
}
