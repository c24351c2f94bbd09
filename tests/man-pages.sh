#!/bin/sh
# The manual pages render without a single warning, say the version that
# configure.ac gives, and document every P11LOGOUT_* variable the library
# reads and every option p11-run takes.
. "$P11L_TEST_SRCDIR/tap-lib.sh"
: "${P11L_TOP_SRCDIR:?}"

doc=$P11L_TOP_SRCDIR/doc
pages="libp11logout.8 p11-run.1"
have_man=no have_groff=no
command -v man >/dev/null 2>&1 && have_man=yes
command -v groff >/dev/null 2>&1 && have_groff=yes
[ $have_man = yes ] || [ $have_groff = yes ] || skip_all "neither man nor groff is installed"
p11l_tmpdir

version=$(sed -n 's/^AC_INIT(\[[^]]*\], *\[\([^]]*\)\].*/\1/p' "$P11L_TOP_SRCDIR/configure.ac")
[ -n "$version" ] || bail_out "cannot read the version from configure.ac"

for page in $pages; do
	f=$doc/$page
	if [ ! -r "$f" ]; then
		not_ok "$page exists"
		continue
	fi

	if [ $have_man = yes ]; then
		LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 \
			man --warnings -E UTF-8 -l -Tutf8 "$f" >"$P11L_TMP/out" 2>"$P11L_TMP/err"
		rc=$?
		if [ $rc -eq 0 ] && [ ! -s "$P11L_TMP/err" ] && [ -s "$P11L_TMP/out" ]; then
			ok "$page: man renders it without warnings"
		else
			not_ok "$page: man renders it without warnings (status $rc)"
			sed 's/^/# /' "$P11L_TMP/err"
		fi
	fi
	if [ $have_groff = yes ]; then
		groff -man -ww -z "$f" 2>"$P11L_TMP/err"
		rc=$?
		if [ $rc -eq 0 ] && [ ! -s "$P11L_TMP/err" ]; then
			ok "$page: groff -ww finds nothing to warn about"
		else
			not_ok "$page: groff -ww finds nothing to warn about (status $rc)"
			sed 's/^/# /' "$P11L_TMP/err"
		fi
	fi

	th=$(grep -m1 '^\.TH ' "$f")
	case $th in
	*"\"libp11logout $version\""*) ok "$page: .TH names version $version" ;;
	*) not_ok "$page: .TH names version $version"; diag "$th" ;;
	esac
done

# Each variable in the source must be an entry (.TP, then .B NAME) in the
# ENVIRONMENT section of libp11logout(8).
env_entries() {
	awk '/^\.SH /{ in_env = ($2 == "ENVIRONMENT") }
	     in_env && prev == ".TP" && /^\.B[R]? / { print $2 }
	     { prev = $1 }' "$1" | tr -d ',"'
}
env_entries "$doc/libp11logout.8" >"$P11L_TMP/documented"
vars=$(cat "$P11L_TOP_SRCDIR"/preload/*.c "$P11L_TOP_SRCDIR"/preload/*.h |
	grep -ow 'P11LOGOUT_[A-Z0-9][A-Z0-9_]*' | sort -u)
[ -n "$vars" ] || not_ok "the library reads some P11LOGOUT_* variable"
for v in $vars; do
	check "libp11logout.8 documents $v in ENVIRONMENT" \
		grep -qx "$v" "$P11L_TMP/documented"
done

# The same for what p11-run passes on, in p11-run(1).
awk '/^\.SH /{ in_env = ($2 == "ENVIRONMENT") }
     in_env && prev == ".TP" && /^\.B[R]? / { for (i = 2; i <= NF; i++) print $i }
     { prev = $1 }' "$doc/p11-run.1" | tr -d ',"' >"$P11L_TMP/documented1"
for v in $(grep -ow 'P11LOGOUT_[A-Z0-9][A-Z0-9_]*' "$P11L_TOP_SRCDIR/preload/p11-run.in" | sort -u); do
	check "p11-run.1 documents $v in ENVIRONMENT" \
		grep -qx "$v" "$P11L_TMP/documented1"
done

# Every option of p11-run's case statement appears in OPTIONS, as \-x.
opts=$(sed -n 's/^[[:space:]]*\(-[-a-z|]*\))\([[:space:]].*\)\{0,1\}$/\1/p' \
	"$P11L_TOP_SRCDIR/preload/p11-run.in" | tr '|' '\n' | grep -vx -- '--' | awk '!seen[$0]++')
[ -n "$opts" ] || not_ok "p11-run.in has options to document"
awk '/^\.SH /{ in_opt = ($2 == "OPTIONS") } in_opt' "$doc/p11-run.1" |
	sed 's/\\-/-/g' >"$P11L_TMP/options"
for o in $opts; do
	check "p11-run.1 documents option $o" grep -q -- "$o\\b" "$P11L_TMP/options"
done

done_testing
