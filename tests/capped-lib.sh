# Helpers for the tests of the session-capped fixture.  Sourced after
# tap-lib.sh and p11l_tmpdir, never run.
#
#   capped_require       skip_all unless the fixture, tools and SoftHSM2 exist
#   capped_token DIR     a SoftHSM2 token "t" in DIR (DIR/softhsm2.conf, its
#                        own tokendir), PIN 1234, SO PIN 5678, RSA key k1;
#                        its public key as DIR/k1.pem
#   capped_token_copy SRC DST   a copy of a token made by capped_token, with
#                        its own softhsm2.conf
#   capped_env DIR       exports the fixture's variables for the pool DIR
#   capped_count         the pool's taken count (capped-count)
#   capped_setup TOKDIR POOLDIR [MAX]
#                        capped_token TOKDIR (bails out when it cannot be
#                        made) with SOFTHSM2_CONF exported to it, then
#                        capped_env POOLDIR and, when given,
#                        CAPPED_MAX_SESSIONS=MAX exported
#   capped_count_is N DESC   a TAP check: the taken count is N (the pool
#                        listed when not)
#   capped_at_once_fixture   for the tests that sign from many processes at
#                        once through the engine (fair-wait-lib.sh): the
#                        skips, p11l_fixture, p11l_hermetic, and the lock
#                        files in $T/run (XDG_RUNTIME_DIR)
#
# Sets CAPPED_MODULE (the fixture .so), CAPPED_COUNT, LATE_CLIENT.

CAPPED_MODULE=$P11L_TEST_BUILDDIR/.libs/capped-module.so
CAPPED_COUNT=$P11L_TEST_BUILDDIR/capped-count
LATE_CLIENT=$P11L_TEST_BUILDDIR/late-client
CAPPED_PIN=1234
CAPPED_SO_PIN=5678

capped_require() {
	for capped_f in "$CAPPED_MODULE" "$CAPPED_COUNT" "$LATE_CLIENT"; do
		[ -e "$capped_f" ] || skip_all "$capped_f is not built"
	done
	[ -r "$P11L_SOFTHSM" ] || skip_all "no SoftHSM2 module at $P11L_SOFTHSM"
	for capped_f in pkcs11-tool openssl; do
		command -v "$capped_f" >/dev/null 2>&1 ||
			skip_all "$capped_f not found"
	done
}

capped_conf() {
	cat >"$1/softhsm2.conf" <<EOF
directories.tokendir = $1/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
EOF
}

capped_token() {
	mkdir -p "$1/tokens" || return 1
	capped_conf "$1"
	(
		SOFTHSM2_CONF=$1/softhsm2.conf
		export SOFTHSM2_CONF
		unset LD_PRELOAD
		pkcs11-tool --module "$P11L_SOFTHSM" --init-token --slot-index 0 \
			--label t --so-pin "$CAPPED_SO_PIN" \
			--init-pin --pin "$CAPPED_PIN" &&
		pkcs11-tool --module "$P11L_SOFTHSM" --token-label t \
			--keypairgen --key-type rsa:2048 --label k1 --id 01 \
			--login --pin "$CAPPED_PIN" &&
		pkcs11-tool --module "$P11L_SOFTHSM" --token-label t \
			--read-object --type pubkey --label k1 -o "$1/k1.der" &&
		openssl pkey -pubin -inform DER -in "$1/k1.der" -out "$1/k1.pem"
	) >"$1/setup.log" 2>&1 || {
		echo "capped_token: cannot create the token in $1:" >&2
		cat "$1/setup.log" >&2
		return 1
	}
}

capped_token_copy() {
	mkdir -p "$2" && cp -R "$1/tokens" "$2/tokens" && capped_conf "$2"
}

capped_env() {
	mkdir -p "$1" || return 1
	CAPPED_STATE_DIR=$1
	CAPPED_REAL_MODULE=$P11L_SOFTHSM
	export CAPPED_STATE_DIR CAPPED_REAL_MODULE
	unset CAPPED_MAX_SESSIONS CAPPED_IDLE_EXPIRY CAPPED_HOLD_MS CAPPED_VERBOSE
}

capped_count() {
	"$CAPPED_COUNT" "$CAPPED_STATE_DIR"
}

capped_setup() {
	capped_token "$1" || bail_out "no SoftHSM2 token in $1"
	SOFTHSM2_CONF=$1/softhsm2.conf
	export SOFTHSM2_CONF
	capped_env "$2" || bail_out "cannot make the pool $2"
	if [ -n "${3:-}" ]; then
		CAPPED_MAX_SESSIONS=$3
		export CAPPED_MAX_SESSIONS
	fi
}

capped_count_is() {
	capped_got=$(capped_count)
	if [ "$capped_got" = "$1" ]; then
		ok "$2 (count $capped_got)"
	else
		not_ok "$2: count is '$capped_got', expected $1"
		"$CAPPED_COUNT" --list "$CAPPED_STATE_DIR" | sed 's/^/#   /'
	fi
}

capped_at_once_fixture() {
	capped_require
	if why=$(p11l_engine_missing); then skip_all "$why"; fi
	command -v bash >/dev/null 2>&1 || skip_all "bash is needed to open the PIN FIFOs at once"
	p11l_fixture "$P11L_LIB"
	# An installed configuration file must not change the results.
	p11l_hermetic
	# The lock files go here, not in the user's own runtime directory.
	mkdir "$T/run" || bail_out "mkdir failed"
	XDG_RUNTIME_DIR=$T/run
	export XDG_RUNTIME_DIR
}
