#!/bin/sh
# libp11logout quick-start demo.
#
# Creates a throw-away SoftHSM2 token, then signs a few files, each by its own
#     openssl dgst -sha256 -engine pkcs11 -keyform engine -sign 'pkcs11:...'
# process run through p11-run, and shows for every process that its login was
# released at exit (the library's P11LOGOUT_DEBUG line and, when OpenSC's
# pkcs11-spy is installed, the C_Logout the spy saw reach SoftHSM2).  Then it
# verifies the signatures and prints a summary.  Exits non-zero on any
# failure.  Where openssl takes no -engine (OpenSSL 4.0 has no engines), it
# signs through a provider instead, and says which:
#     openssl dgst -sha256 -sign 'pkcs11:...'
# with pkcs11-provider where it is installed, else libp11's pkcs11prov.
#
# Needs: softhsm2-util, pkcs11-tool (OpenSC), openssl with the libp11
# "pkcs11" engine (or, without engines, pkcs11-provider or libp11's
# provider), and p11-run.  Optional: pkcs11-spy.so (OpenSC).
#
# Environment (all optional):
#   P11L_RUN        p11-run to use (default: the build tree next to this
#                   script if built, else p11-run from PATH)
#   P11L_LIB        libp11logout.so for p11-run (default: p11-run's own)
#   P11L_SOFTHSM    SoftHSM2 module     P11L_ENGINE  libp11 engine (pkcs11.so)
#   P11L_PROVIDER   the provider to use where openssl has no engines:
#                   pkcs11-provider's pkcs11.so or libp11's pkcs11prov.so
#   P11L_SPY        pkcs11-spy module, or "none" to do without it
#   P11L_DEMO_FILES number of files to sign (default 5)
#   P11L_DEMO_KEEP  set to keep the temporary directory

set -u

say() { printf '%s\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

first_file() {
	for f in "$@"; do
		[ -r "$f" ] && { printf '%s\n' "$f"; return 0; }
	done
	return 1
}

# --- components --------------------------------------------------------------
for tool in softhsm2-util pkcs11-tool openssl; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool not found (install softhsm2, opensc, openssl)"
done

here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${P11L_RUN:-}" ]; then
	if [ -x "$here/../preload/p11-run" ] && [ -r "$here/../preload/.libs/libp11logout.so" ]; then
		P11L_RUN=$here/../preload/p11-run
		: "${P11L_LIB:=$(cd "$here/../preload/.libs" && pwd)/libp11logout.so}"
	else
		P11L_RUN=$(command -v p11-run) || die "p11-run not found: build the tree or install libp11logout, or set P11L_RUN"
	fi
fi
[ -x "$P11L_RUN" ] || die "P11L_RUN=$P11L_RUN is not executable"
[ -n "${P11L_LIB:-}" ] && export P11L_LIB

P11L_SOFTHSM=${P11L_SOFTHSM:-$(first_file /usr/lib/softhsm/libsofthsm2.so \
	/usr/lib/*/softhsm/libsofthsm2.so /usr/lib64/pkcs11/libsofthsm2.so \
	/usr/local/lib/softhsm/libsofthsm2.so)} || die "SoftHSM2 module not found (set P11L_SOFTHSM)"
# openssl itself says whether it takes -engine (OpenSSL 4.0 does not, even
# where libp11's engine for OpenSSL 3 is on disk).
if openssl dgst -help 2>&1 | grep -q '^ *-engine '; then
	via=engine
	if [ -z "${P11L_ENGINE:-}" ]; then
		enginesdir=$(openssl version -e | sed -n 's/^ENGINESDIR: "\(.*\)"$/\1/p')
		P11L_ENGINE=$(first_file "$enginesdir/pkcs11.so" /usr/lib/*/engines-3/pkcs11.so) ||
			die "libp11 openssl engine pkcs11.so not found (install libengine-pkcs11-openssl, or set P11L_ENGINE)"
	fi
else
	modulesdir=$(openssl version -m | sed -n 's/^MODULESDIR: "\(.*\)"$/\1/p')
	if [ -z "${P11L_PROVIDER:-}" ]; then
		P11L_PROVIDER=$(first_file "$modulesdir/pkcs11.so" "$modulesdir/pkcs11prov.so") ||
			die "$(openssl version) has no engines, and neither pkcs11-provider nor libp11's provider is in $modulesdir (install pkcs11-provider or libengine-pkcs11-openssl, or set P11L_PROVIDER)"
	fi
	case ${P11L_PROVIDER##*/} in
	pkcs11prov*) via=libp11-provider ;;
	*) via=pkcs11-provider ;;
	esac
fi
if [ "${P11L_SPY:-}" = none ]; then
	P11L_SPY=
else
	P11L_SPY=${P11L_SPY:-$(first_file /usr/lib/*/pkcs11/pkcs11-spy.so \
		/usr/lib64/pkcs11/pkcs11-spy.so /usr/lib/pkcs11/pkcs11-spy.so)} || P11L_SPY=
fi

# --- token -------------------------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/p11l-demo.XXXXXX") || die "mktemp failed"
if [ -n "${P11L_DEMO_KEEP:-}" ]; then
	say "(keeping $tmp)"
else
	trap 'rm -rf "$tmp"' EXIT
fi
trap 'exit 130' INT TERM

mkdir "$tmp/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
	"$tmp/tokens" >"$tmp/softhsm2.conf"
SOFTHSM2_CONF=$tmp/softhsm2.conf
export SOFTHSM2_CONF

say "== creating a SoftHSM2 token 'demo' (user PIN 1234) with an RSA-2048 key 'k1'"
softhsm2-util --module "$P11L_SOFTHSM" --init-token --free --label demo \
	--pin 1234 --so-pin 5678 >"$tmp/setup.log" 2>&1 &&
pkcs11-tool --module "$P11L_SOFTHSM" --token-label demo --login --pin 1234 \
	--keypairgen --key-type rsa:2048 --label k1 --id 01 >>"$tmp/setup.log" 2>&1 &&
pkcs11-tool --module "$P11L_SOFTHSM" --token-label demo --read-object \
	--type pubkey --label k1 -o "$tmp/k1.der" >>"$tmp/setup.log" 2>&1 &&
openssl pkey -pubin -inform DER -in "$tmp/k1.der" -out "$tmp/k1.pub" 2>>"$tmp/setup.log" ||
	{ cat "$tmp/setup.log" >&2; die "token setup failed"; }

# The engine or provider gets its module from OPENSSL_CONF; the openssl
# command line is the unmodified one.  With pkcs11-spy the module is the
# spy, which logs each call to SoftHSM2.
module=$P11L_SOFTHSM
[ -n "$P11L_SPY" ] && module=$P11L_SPY
case $via in
engine)
	cat >"$tmp/openssl.cnf" <<EOF
openssl_conf = demo_init
[demo_init]
engines = demo_engines
[demo_engines]
pkcs11 = demo_pkcs11
[demo_pkcs11]
engine_id = pkcs11
dynamic_path = $P11L_ENGINE
MODULE_PATH = $module
EOF
	;;
*)
	if [ "$via" = pkcs11-provider ]; then
		prov_lines="module = $P11L_PROVIDER
pkcs11-module-path = $module"
	else
		prov_lines="identity = pkcs11prov
module = $P11L_PROVIDER
pkcs11_module = $module"
	fi
	cat >"$tmp/openssl.cnf" <<EOF
openssl_conf = demo_init
[demo_init]
providers = demo_providers
[demo_providers]
default = demo_default
pkcs11 = demo_pkcs11
[demo_default]
activate = 1
[demo_pkcs11]
$prov_lines
activate = 1
EOF
	;;
esac
OPENSSL_CONF=$tmp/openssl.cnf
export OPENSSL_CONF
PKCS11SPY=$P11L_SOFTHSM
export PKCS11SPY

# The engine's command line, or a provider's (the key is a URI; the PIN
# is a query attribute for pkcs11-provider).
uri='pkcs11:token=demo;object=k1;type=private;pin-value=1234'
keyopts="-engine pkcs11 -keyform engine"
case $via in
pkcs11-provider) uri='pkcs11:token=demo;object=k1;type=private?pin-value=1234' keyopts= ;;
libp11-provider) keyopts= ;;
esac

# trace_summary TRACE: "<C_Logout calls returning CKR_OK> <last call>"
trace_summary() {
	[ -r "$1" ] || { echo "0 (no-trace)"; return; }
	awk '
		/^[0-9]+: C_[A-Za-z0-9_]+[ \t\r]*$/ { name = $2; last = $2 }
		/^Returned:/ { if (name == "C_Logout" && $3 == "CKR_OK") n++; name = "" }
		END { print n + 0, (last == "" ? "(none)" : last) }
	' "$1"
}

case $via in
engine) say "== openssl engine: $P11L_ENGINE" ;;
pkcs11-provider) say "== $(openssl version), no engines: pkcs11-provider: $P11L_PROVIDER" ;;
*) say "== $(openssl version), no engines: libp11's provider: $P11L_PROVIDER" ;;
esac
say "== PKCS#11 module: $module${P11L_SPY:+ (pkcs11-spy -> $P11L_SOFTHSM)}"
say "== p11-run: $P11L_RUN${P11L_LIB:+ (P11L_LIB=$P11L_LIB)}"

if [ -n "$P11L_SPY" ]; then
	say ""
	say "== without p11-run, for comparison:"
	printf 'demo without p11-run\n' >"$tmp/plain.txt"
	# shellcheck disable=SC2086
	PKCS11SPY_OUTPUT=$tmp/plain.trace \
		openssl dgst -sha256 $keyopts -sign "$uri" \
		-out "$tmp/plain.sig" "$tmp/plain.txt" >/dev/null 2>"$tmp/plain.err" ||
		{ cat "$tmp/plain.err" >&2; die "openssl failed even without p11-run"; }
	set -- $(trace_summary "$tmp/plain.trace")
	case $1/$2 in
	0/C_Finalize)
		say "   spy: $1 C_Logout, last call $2 -> the process never logged out: its"
		say "        C_Finalize ends the login in SoftHSM2, but a YubiHSM 2's sends nothing"
		say "        and the device session stays open" ;;
	0/*) say "   spy: $1 C_Logout, last call $2 -> the process exited still logged in" ;;
	*) say "   spy: $1 C_Logout, last call $2 -> the process logged out by itself" ;;
	esac
fi

# --- sign ----------------------------------------------------------------------
n=${P11L_DEMO_FILES:-5}
say ""
say "== signing $n files, one process each:"
say "   $(basename "$P11L_RUN") -d openssl dgst -sha256${keyopts:+ $keyopts} \\"
say "       -sign '$uri' -out FILE.sig FILE"
signed=0 released=0 verified=0 failed=0
i=1
while [ "$i" -le "$n" ]; do
	f=$tmp/file$i.txt
	printf 'libp11logout demo file %s\n' "$i" >"$f"
	head -c 512 /dev/urandom >>"$f"
	ok=1

	# shellcheck disable=SC2086
	if PKCS11SPY_OUTPUT=$tmp/file$i.trace \
		"$P11L_RUN" -d openssl dgst -sha256 $keyopts \
		-sign "$uri" -out "$f.sig" "$f" >/dev/null 2>"$f.err"; then
		signed=$((signed + 1))
	else
		ok=0
		say "   file$i: openssl failed:"
		grep -v '^libp11logout:' "$f.err" | sed 's/^/       /'
	fi

	line=$(grep -a '^libp11logout:.*C_Logout.*CKR_OK' "$f.err" | tail -n 1)
	rel=0
	[ -n "$line" ] && rel=1
	spy=
	if [ -n "$P11L_SPY" ]; then
		set -- $(trace_summary "$tmp/file$i.trace")
		spy="spy: $1 C_Logout -> CKR_OK"
		[ "$1" -eq 1 ] || rel=0
	fi
	if [ "$rel" -eq 1 ]; then
		released=$((released + 1))
		say "   file$i: released: ${line#libp11logout: }"
		[ -n "$spy" ] && say "          $spy"
	else
		ok=0
		say "   file$i: login NOT released${spy:+ ($spy)}"
		grep -a '^libp11logout:' "$f.err" | sed 's/^/       /'
	fi

	if openssl dgst -sha256 -verify "$tmp/k1.pub" -signature "$f.sig" "$f" >/dev/null 2>&1; then
		verified=$((verified + 1))
	else
		ok=0
		say "   file$i: signature does NOT verify"
	fi
	[ "$ok" -eq 1 ] || failed=$((failed + 1))
	i=$((i + 1))
done

say ""
say "== summary: $signed/$n signed, $released/$n logins released, $verified/$n signatures verified"
if [ "$failed" -eq 0 ]; then
	say "== OK"
	exit 0
fi
say "== FAILED ($failed of $n)"
exit 1
