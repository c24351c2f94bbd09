# The fixture of the settings tests (wait, modules, modes, configuration
# file, syslog, wrapper module, p11-run options): fake-module and
# fake-driver.  Sourced after tap-lib.sh, whose run starts every program;
# never run.
#
#   banner FILE               the settings line of the library's debug
#                             banner in FILE, without the "libp11logout: "
#                             prefix
#   settings_line ...         that line for given values

DRIVER=$P11L_TEST_BUILDDIR/fake-driver
MOD=$P11L_TEST_BUILDDIR/.libs/fake-module.so
MOD2=$P11L_TEST_BUILDDIR/.libs/fake-module2.so
WRAPPER=$(dirname "$P11L_LIB")/libp11logout-module.so
p11l_fixture "$P11L_LIB" "$MOD" "$MOD2" "$DRIVER"
VERSION=$(sed -n "s/^P11L_VERSION='\(.*\)'$/\1/p" "$P11L_RUN")
[ -n "$VERSION" ] || bail_out "no version in $P11L_RUN"

banner() {
	sed -n 's/^libp11logout: \(libp11logout [^ ]*: debug=.*\)$/\1/p' "$1"
}

# settings_line DEBUG TIMEOUT WAIT MODE LOG MODULES MODULE [SIGNALS
# [MAX_SESSIONS]]: the banner's settings line for these values (SIGNALS:
# "-", MAX_SESSIONS: 0 when not given).
settings_line() {
	printf 'libp11logout %s: debug=%s timeout=%s wait=%s mode=%s log=%s modules=%s module=%s signals=%s max_sessions=%s\n' \
		"$VERSION" "$1" "$2" "$3" "$4" "$5" "$6" "$7" "${8:--}" "${9:-0}"
}
