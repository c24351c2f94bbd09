#!/bin/sh
# "make install DESTDIR=..." from the build tree installs exactly the
# library, p11-run (pointing at the installed library) and the two manual
# pages, and "make uninstall" takes every one of them away again.
. "$P11L_TEST_SRCDIR/tap-lib.sh"

top=$(cd "$P11L_TEST_BUILDDIR/.." && pwd) || bail_out "no top build directory"
[ -f "$top/Makefile" ] || bail_out "$top/Makefile is missing"
command -v make >/dev/null 2>&1 || skip_all "make is not installed"
p11l_tmpdir
dest=$P11L_TMP/dest

# Run make as a fresh top-level make: what the make running this test
# passes down (its jobserver, TESTS=..., -k) is not for this one.
run_make() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES \
		make -C "$top" --no-print-directory "$@"
}

# The installation directories, fully expanded, as configure set them.
cat >"$P11L_TMP/dirs.mk" <<'MK'
p11l-print-dirs:
	@echo "libdir=$(libdir)"
	@echo "bindir=$(bindir)"
	@echo "mandir=$(mandir)"
	@echo "sysconfdir=$(sysconfdir)"
MK
dirs=$(run_make -s -f Makefile -f "$P11L_TMP/dirs.mk" p11l-print-dirs) ||
	bail_out "cannot read the installation directories"
libdir=$(printf '%s\n' "$dirs" | sed -n 's/^libdir=//p')
bindir=$(printf '%s\n' "$dirs" | sed -n 's/^bindir=//p')
mandir=$(printf '%s\n' "$dirs" | sed -n 's/^mandir=//p')
sysconfdir=$(printf '%s\n' "$dirs" | sed -n 's/^sysconfdir=//p')
diag "libdir=$libdir bindir=$bindir mandir=$mandir sysconfdir=$sysconfdir"
case $libdir$bindir$mandir$sysconfdir in
*'$'*|'') bail_out "directories not expanded: $dirs" ;;
esac

listing() {
	(cd "$dest" 2>/dev/null && find . ! -type d | sed 's|^\.||' | sort)
}

if run_make install DESTDIR="$dest" >"$P11L_TMP/install.log" 2>&1; then
	ok "make install DESTDIR=... succeeds"
else
	not_ok "make install DESTDIR=... succeeds"
	tail -n 30 "$P11L_TMP/install.log" | sed 's/^/# /'
fi

printf '%s\n' "$libdir/libp11logout.so" "$libdir/pkcs11/libp11logout-module.so" \
	"$bindir/p11-run" "$mandir/man1/p11-run.1" "$mandir/man8/libp11logout.8" |
	sort >"$P11L_TMP/expected"
listing >"$P11L_TMP/installed"
what="exactly the two libraries, p11-run and two manual pages are installed"
if cmp -s "$P11L_TMP/expected" "$P11L_TMP/installed"; then
	ok "$what"
else
	not_ok "$what"
	diff "$P11L_TMP/expected" "$P11L_TMP/installed" | sed 's/^/# /'
fi

lib=$dest$libdir/libp11logout.so
run=$dest$bindir/p11-run

check "no symbolic links are installed" \
	test -z "$(cd "$dest" 2>/dev/null && find . -type l)"
check "no libtool archive is installed" \
	test -z "$(cd "$dest" 2>/dev/null && find . -name '*.la')"
module=$dest$libdir/pkcs11/libp11logout-module.so
is_elf() {
	test -f "$1" && ! test -L "$1" &&
		[ "$(head -c 4 "$1" | od -An -c | tr -d ' ')" = "177ELF" ]
}
check "the library is a regular ELF file" is_elf "$lib"
check "the module-wrapper library is a regular ELF file" is_elf "$module"
check "the module-wrapper library exports C_GetFunctionList" \
	sh -c 'command -v nm >/dev/null 2>&1 || exit 0; nm -D --defined-only "$1" | grep -qw C_GetFunctionList' sh "$module"
check "the library exports dlsym" \
	sh -c 'command -v nm >/dev/null 2>&1 || exit 0; nm -D --defined-only "$1" | grep -qw dlsym' sh "$lib"

check "p11-run is executable" test -x "$run"
check "p11-run names the installed library" \
	grep -qF "'$libdir/libp11logout.so'" "$run"
check "p11-run names the default configuration file" \
	grep -qF "'$sysconfdir/libp11logout.conf'" "$run"
check "p11-run has no @...@ left" sh -c '! grep -q "@[A-Za-z_]*@" "$1"' sh "$run"
out=$(P11L_LIB= "$run" --version 2>&1)
version=$(sed -n 's/^AC_INIT(\[[^]]*\], *\[\([^]]*\)\].*/\1/p' "$P11L_TOP_SRCDIR/configure.ac")
check "installed p11-run --version says $version" \
	test "$out" = "p11-run (libp11logout) $version"
# Run through the staged copy of the library (P11L_LIB), since the
# installed path only exists once the files are really in place.
out=$(env -u LD_PRELOAD P11L_LIB="$lib" "$run" sh -c 'printf %s "$LD_PRELOAD"')
check "installed p11-run preloads the library" test "$out" = "$lib"

for page in man1/p11-run.1 man8/libp11logout.8; do
	name=${page#*/}
	check "$page is the source page" \
		cmp -s "$dest$mandir/$page" "$P11L_TOP_SRCDIR/doc/$name"
done

if run_make uninstall DESTDIR="$dest" >"$P11L_TMP/uninstall.log" 2>&1; then
	ok "make uninstall DESTDIR=... succeeds"
else
	not_ok "make uninstall DESTDIR=... succeeds"
	tail -n 30 "$P11L_TMP/uninstall.log" | sed 's/^/# /'
fi
left=$(listing)
if [ -z "$left" ]; then
	ok "make uninstall leaves no files behind"
else
	not_ok "make uninstall leaves no files behind"
	printf '%s\n' "$left" | sed 's/^/# /'
fi

done_testing
