#!/bin/sh
# The unmodified "openssl dgst -engine pkcs11 -sign pkcs11:...;pin-value=..."
# (libp11 engine) against a SoftHSM2 token, with pkcs11-spy between the
# engine and SoftHSM2 so that the calls reaching the module are recorded:
#
#     openssl -> libp11 engine -> pkcs11-spy -> SoftHSM2
#
# Each configuration is first run without the library.  Where the engine
# exits logged in (libp11 0.4.12 to 0.4.21 with OPENSSL_CONF), with the
# library exactly one C_Logout returning CKR_OK reaches the module after
# the signature and no session is left open; where it cleans up by itself
# (PKCS11_MODULE_PATH with libp11 0.4.13 and later) the module sees not
# one extra call.  Every signature verifies.

. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/softhsm-setup.sh"
. "$P11L_TEST_SRCDIR/spy-trace.sh"
. "$P11L_TEST_SRCDIR/engine-lib.sh"

p11l_spy_fixture engine p11-run
P11L_CONF=$P11L_TMP/openssl.cnf
p11l_engine_conf "$P11L_CONF" "$P11L_SPY"
p11l_engine_data

# Without the library: the defect this project exists for, on the stacks
# where the engine leaves the login (libp11 0.4.12 to 0.4.21 with an
# OPENSSL_CONF engine section).  Observed, not assumed: see
# p11l_check_baseline.
baseline() {
	p11l_sign "base-$2" "$2" env -u LD_PRELOAD
	p11l_check_signed "$1 without the library" "$3"
	p11l_check_baseline "$1 without the library"
}
baseline RSA "$P11L_RSA_KEY" "$P11L_RSA_PUB"
baseline EC "$P11L_EC_KEY" "$P11L_EC_PUB"

# With LD_PRELOAD: the login is released, once, and the sessions closed
# (or, where the engine cleaned up, not one extra call).
preloaded() {
	p11l_sign "lib-$2" "$2" env -u P11LOGOUT_DEBUG LD_PRELOAD="$(p11l_preload)" $P11L_VG
	p11l_check_signed "$1 with LD_PRELOAD" "$3"
	p11l_check_as_baseline "$1 with LD_PRELOAD" "base-$2"
	p11l_check_quiet "$1 with LD_PRELOAD"
}
preloaded RSA "$P11L_RSA_KEY" "$P11L_RSA_PUB"
preloaded EC "$P11L_EC_KEY" "$P11L_EC_PUB"

# P11LOGOUT_DEBUG=1 reports, and changes nothing in what reaches the module.
desc="EC with LD_PRELOAD and P11LOGOUT_DEBUG=1"
p11l_sign "dbg-$P11L_EC_KEY" "$P11L_EC_KEY" env P11LOGOUT_DEBUG=1 LD_PRELOAD="$(p11l_preload)" $P11L_VG
p11l_check_signed "$desc" "$P11L_EC_PUB"
p11l_check_as_baseline "$desc" "base-$P11L_EC_KEY"
p11l_check_debug "$desc"

# Through the wrapper script, as a user runs it.
desc="RSA through p11-run"
p11l_sign "run-$P11L_RSA_KEY" "$P11L_RSA_KEY" \
	env -u P11LOGOUT_DEBUG -u LD_PRELOAD "$P11L_RUN" $P11L_VG
p11l_check_signed "$desc" "$P11L_RSA_PUB"
p11l_check_as_baseline "$desc" "base-$P11L_RSA_KEY"
p11l_check_quiet "$desc"

desc="EC through p11-run -d"
p11l_sign "rund-$P11L_EC_KEY" "$P11L_EC_KEY" \
	env -u P11LOGOUT_DEBUG -u LD_PRELOAD "$P11L_RUN" -d -- $P11L_VG
p11l_check_signed "$desc" "$P11L_EC_PUB"
p11l_check_as_baseline "$desc" "base-$P11L_EC_KEY"
p11l_check_debug "$desc"

# The other way to give libp11 its module: PKCS11_MODULE_PATH, no config
# (the engine "pkcs11" is then found as pkcs11.so in OPENSSL_ENGINES).
# libp11 0.4.12 leaves the login here too; 0.4.13 and later close their
# sessions and finalize the module when openssl releases the engine.
# msign TAG KEY LAUNCHER...: p11l_sign's command, configured that way.
msign() {
	tag=$1
	rm -f "$P11L_TMP/$tag".*
	mkey=$2
	shift 2
	PKCS11SPY=$P11L_SOFTHSM PKCS11SPY_OUTPUT=$P11L_TMP/$tag.trace \
	PKCS11_MODULE_PATH=$P11L_SPY OPENSSL_ENGINES=$(dirname "$P11L_ENGINE") \
		env -u OPENSSL_CONF -u P11LOGOUT_DEBUG "$@" \
		openssl dgst -sha256 -engine pkcs11 -keyform engine \
		-sign "pkcs11:token=$P11L_TOKEN_LABEL;object=$mkey;type=private;pin-value=$P11L_PIN" \
		-out "$P11L_TMP/$tag.sig" "$P11L_TMP/data" \
		>"$P11L_TMP/$tag.out" 2>"$P11L_TMP/$tag.err"
	rc=$?
	p11l_sign_calls
}
module_path() {
	mdesc="$1 with PKCS11_MODULE_PATH instead of OPENSSL_CONF"
	msign "mbase-$2" "$2" env -u LD_PRELOAD
	p11l_check_signed "$mdesc, without the library" "$3"
	p11l_check_baseline "$mdesc, without the library"
	msign "mlib-$2" "$2" env LD_PRELOAD="$(p11l_preload)" $P11L_VG
	p11l_check_signed "$mdesc, with LD_PRELOAD" "$3"
	p11l_check_as_baseline "$mdesc, with LD_PRELOAD" "mbase-$2"
}
module_path RSA "$P11L_RSA_KEY" "$P11L_RSA_PUB"
module_path EC "$P11L_EC_KEY" "$P11L_EC_PUB"

done_testing
