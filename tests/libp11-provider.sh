#!/bin/sh
# libp11's OpenSSL provider (pkcs11prov, libp11 0.4.14 and later; Debian
# ships it in libengine-pkcs11-openssl from unstable on, not in Debian 12
# or 13), configured by OPENSSL_CONF, with pkcs11-spy in front of SoftHSM2:
#
#     openssl dgst -sign pkcs11:... -> pkcs11prov -> pkcs11-spy -> SoftHSM2
#
# RSA and EC keys, each first without the library (observed: libp11 0.4.21
# exits still logged in, as its provider skips its teardown on purpose),
# then with LD_PRELOAD and through p11-run: one C_Logout returning CKR_OK
# where the run without it leaked, not one extra call where it did not.
# Skips, saying so, where the provider is not installed.

. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/softhsm-setup.sh"
. "$P11L_TEST_SRCDIR/spy-trace.sh"
. "$P11L_TEST_SRCDIR/engine-lib.sh"

# Where this openssl looks for providers (openssl version -m).
P11L_LIBP11_PROV=$(p11l_libp11_provider) ||
	skip_all "libp11's provider is not installed ($P11L_LIBP11_PROV; libp11 0.4.14 and later, Debian unstable's libengine-pkcs11-openssl)"
p11l_spy_fixture p11-run
p11l_engine_data
P11L_CONF=$P11L_TMP/provider.cnf
p11l_libp11_provider_conf "$P11L_CONF" "$P11L_SPY"

# psign TAG KEY LAUNCHER...: what a user types with the provider (no
# -engine), through LAUNCHER; as p11l_sign.
psign() {
	tag=$1 pkey=$2
	shift 2
	rm -f "$P11L_TMP/$tag".*
	PKCS11SPY=$P11L_SOFTHSM PKCS11SPY_OUTPUT=$P11L_TMP/$tag.trace \
	OPENSSL_CONF=$P11L_CONF \
		"$@" openssl dgst -sha256 \
		-sign "pkcs11:token=$P11L_TOKEN_LABEL;object=$pkey;type=private;pin-value=$P11L_PIN" \
		-out "$P11L_TMP/$tag.sig" "$P11L_TMP/data" \
		>"$P11L_TMP/$tag.out" 2>"$P11L_TMP/$tag.err"
	rc=$?
	p11l_sign_calls
}

run() {
	psign "base-$2" "$2" env -u LD_PRELOAD -u P11LOGOUT_DEBUG
	p11l_check_signed "$1 without the library" "$3"
	p11l_check_baseline "$1 without the library"

	desc="$1 with LD_PRELOAD"
	psign "lib-$2" "$2" env -u P11LOGOUT_DEBUG LD_PRELOAD="$(p11l_preload)" $P11L_VG
	p11l_check_signed "$desc" "$3"
	p11l_check_as_baseline "$desc" "base-$2"
	p11l_check_quiet "$desc"

	desc="$1 through p11-run"
	psign "run-$2" "$2" env -u P11LOGOUT_DEBUG -u LD_PRELOAD "$P11L_RUN" $P11L_VG
	p11l_check_signed "$desc" "$3"
	p11l_check_as_baseline "$desc" "base-$2"
	p11l_check_quiet "$desc"
}
run RSA "$P11L_RSA_KEY" "$P11L_RSA_PUB"
run EC "$P11L_EC_KEY" "$P11L_EC_PUB"

done_testing
