#!/bin/sh
# The openssl engine test through p11-kit-proxy, in both orders:
#
#   A: openssl -> libp11 engine -> p11-kit-proxy -> pkcs11-spy -> SoftHSM2
#   B: openssl -> libp11 engine -> pkcs11-spy -> p11-kit-proxy -> SoftHSM2
#
# Every module of the chain is wrapped by the library; still exactly one
# successful C_Logout must reach SoftHSM2, where the run without the library
# shows the engine leaving the login (and not one extra call where it
# cleans up by itself).  In A the spy records what reaches
# SoftHSM2; in B the spy records what reaches the proxy and p11-kit's own
# "log-calls: yes" records what the proxy passes on to SoftHSM2.
#
# p11-kit-proxy reads its module list from a private configuration:
# $HOME/.config/pkcs11/pkcs11.conf ("user-config: only") and
# $HOME/.config/pkcs11/modules/, HOME being the test's temporary directory.
# p11-kit ignores user configuration in a process running as root; as root
# the commands therefore run in a user namespace as a mapped non-root uid
# (unshare --user --map-user), which is root outside, so every file stays
# accessible.

. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/softhsm-setup.sh"
. "$P11L_TEST_SRCDIR/spy-trace.sh"
. "$P11L_TEST_SRCDIR/engine-lib.sh"

p11l_spy_fixture engine proxy

# as_user COMMAND...: run COMMAND as a non-root uid (see above).
if [ "$(id -u)" -eq 0 ]; then
	as_user() { unshare --user --map-user=65532 --map-group=65532 "$@"; }
	if ! err=$(as_user true 2>&1); then
		skip_all "running as root, p11-kit ignores user configuration, and unshare --user is unavailable: $err"
	fi
else
	as_user() { "$@"; }
fi

p11l_engine_data
P11L_CONF=$P11L_TMP/openssl.cnf

home=$P11L_TMP/home
mkdir -p "$home/.config/pkcs11/modules"
echo "user-config: only" >"$home/.config/pkcs11/pkcs11.conf"
module_conf=$home/.config/pkcs11/modules/p11l.module

# Launcher prefixes: private p11-kit configuration, without and with the
# library.
base() {
	as_user env -u LD_PRELOAD -u P11LOGOUT_DEBUG \
		HOME="$home" XDG_CONFIG_HOME="$home/.config" "$@"
}
lib() {
	as_user env -u P11LOGOUT_DEBUG \
		HOME="$home" XDG_CONFIG_HOME="$home/.config" \
		LD_PRELOAD="$(p11l_preload)" $P11L_VG "$@"
}

# ---- A: engine -> p11-kit-proxy -> spy -> SoftHSM2 ----
p11l_engine_conf "$P11L_CONF" "$P11L_P11KIT_PROXY"
printf 'module: %s\n' "$P11L_SPY" >"$module_conf"
P11L_SPY_TARGET=$P11L_SOFTHSM

desc="A (proxy->spy) RSA without the library"
p11l_sign "a-base" "$P11L_RSA_KEY" base
if [ -s "$P11L_TMP/$tag.trace" ]; then
	ok "$desc: p11-kit-proxy loaded the spy from the private configuration"
else
	not_ok "$desc: p11-kit-proxy loaded the spy from the private configuration"
	p11l_show
fi
p11l_check_signed "$desc" "$P11L_RSA_PUB"
p11l_check_baseline "$desc"

chain_a() {
	case_="A (proxy->spy) $1 with LD_PRELOAD"
	p11l_sign "a-lib-$2" "$2" lib
	p11l_check_signed "$case_" "$3"
	p11l_check_as_baseline "$case_" a-base
	p11l_check_quiet "$case_"
}
chain_a RSA "$P11L_RSA_KEY" "$P11L_RSA_PUB"
chain_a EC "$P11L_EC_KEY" "$P11L_EC_PUB"

# ---- B: engine -> spy -> p11-kit-proxy -> SoftHSM2 (log-calls) ----
p11l_engine_conf "$P11L_CONF" "$P11L_SPY"
printf 'module: %s\nlog-calls: yes\n' "$P11L_SOFTHSM" >"$module_conf"
P11L_SPY_TARGET=$P11L_P11KIT_PROXY

kitlog() { p11l_kitlog_calls "$P11L_TMP/$tag.err" >"$P11L_TMP/$tag.kitcalls"; }

desc="B (spy->proxy) EC without the library"
p11l_sign "b-base" "$P11L_EC_KEY" base
kitlog
n=$(p11l_calls_count "$P11L_TMP/$tag.kitcalls" C_Sign CKR_OK)
if [ "$n" -ge 1 ]; then
	ok "$desc: p11-kit logged the calls reaching SoftHSM2"
else
	not_ok "$desc: p11-kit logged the calls reaching SoftHSM2"
	p11l_show
fi
p11l_check_signed "$desc" "$P11L_EC_PUB"
p11l_check_baseline "$desc"
b_logouts=$(p11l_calls_count "$P11L_TMP/$tag.kitcalls" C_Logout)
if [ "$p11l_base" = leaked ]; then
	check "$desc: no C_Logout reaches SoftHSM2 (found $b_logouts)" test "$b_logouts" -eq 0
fi

chain_b() {
	case_="B (spy->proxy) $1 with LD_PRELOAD"
	p11l_sign "b-lib-$2" "$2" lib
	kitlog
	p11l_check_signed "$case_" "$3"
	p11l_check_as_baseline "$case_: at the spy" b-base
	if [ "$p11l_base" = leaked ]; then
		p11l_check_released "$case_: reaching SoftHSM2 (p11-kit log)" \
			"$P11L_TMP/$tag.kitcalls"
	else
		n=$(p11l_calls_count "$P11L_TMP/$tag.kitcalls" C_Logout)
		check "$case_: not one extra C_Logout reaches SoftHSM2 ($n, without the library $b_logouts)" \
			test "$n" = "$b_logouts"
	fi
	p11l_check_quiet "$case_"
}
chain_b RSA "$P11L_RSA_KEY" "$P11L_RSA_PUB"
chain_b EC "$P11L_EC_KEY" "$P11L_EC_PUB"

done_testing
