#!/bin/bash
# Build the Debian packages of libp11logout (libp11logout, Multi-Arch:
# same, and p11-run) from a copy of this tree, run
# lintian on it (any E: line fails the build), and print what the .deb
# holds.  Used by CI; needs no network.
#
# Usage: contrib/build-deb.sh [-o DIR] [--nocheck]
#   -o DIR     copy the .deb, .changes and .buildinfo to DIR
#   --nocheck  skip "make check" during the build (also honoured from
#              DEB_BUILD_OPTIONS)
#
# Needs: dpkg-dev debhelper lintian fakeroot git, and the Build-Depends of
# contrib/debian/control ("apt-get build-dep ./" from the copy, or the list
# in .ci/run).
set -euo pipefail

out=
while [ $# -gt 0 ]; do
	case $1 in
	-o) [ $# -ge 2 ] || { echo "build-deb: -o needs a directory" >&2; exit 2; }
	    out=$(mkdir -p "$2" && cd "$2" && pwd); shift ;;
	--nocheck) DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:+$DEB_BUILD_OPTIONS }nocheck" ;;
	-h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "build-deb: unknown argument '$1'" >&2; exit 2 ;;
	esac
	shift
done
export DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-}"

top=$(cd "$(dirname "$0")/.." && pwd)
for tool in dpkg-buildpackage dpkg-parsechangelog dh lintian fakeroot; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "build-deb: $tool not found; apt-get install dpkg-dev debhelper lintian fakeroot" >&2
		exit 1
	}
done

version=$(dpkg-parsechangelog -l "$top/contrib/debian/changelog" -S Version)
upstream=${version%-*}
work=$(mktemp -d "${TMPDIR:-/tmp}/libp11logout-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
src=$work/libp11logout-$upstream
mkdir "$src"

# The sources only: what git tracks plus new files it does not ignore, so
# that objects and Makefiles of a build in the tree stay out.  Outside git
# (an unpacked tarball), copy everything and clean a configured tree.
if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	(cd "$top" && git ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
		tar --null -T - -cf - | tar -C "$src" -xf -)
else
	cp -a "$top/." "$src/"
	if [ -f "$src/Makefile" ]; then
		make -C "$src" distclean >/dev/null 2>&1 || true
	fi
fi
rm -rf "$src/debian"
cp -r "$src/contrib/debian" "$src/debian"

echo "build-deb: building libp11logout $version in $src${DEB_BUILD_OPTIONS:+ (DEB_BUILD_OPTIONS=$DEB_BUILD_OPTIONS)}"
(cd "$src" && dpkg-buildpackage -us -uc -b -J) >"$work/build.log" 2>&1 || {
	tail -n 80 "$work/build.log" >&2
	echo "build-deb: dpkg-buildpackage failed (last 80 lines above)" >&2
	exit 1
}
# What make check said, for the CI log.
grep -E '^(# (TOTAL|PASS|SKIP|XFAIL|FAIL|XPASS|ERROR):|(PASS|FAIL|SKIP|ERROR|XPASS|XFAIL): )' \
	"$work/build.log" || true

arch=$(dpkg-architecture -qDEB_HOST_ARCH)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
deb=$work/libp11logout_${version}_${arch}.deb
rundeb=$work/p11-run_${version}_${arch}.deb
changes=$work/libp11logout_${version}_${arch}.changes
for d in "$deb" "$rundeb"; do
	[ -f "$d" ] || { echo "build-deb: $d was not built" >&2; exit 1; }
	echo
	echo "build-deb: $(basename "$d")"
	dpkg-deb --info "$d"
	echo
	dpkg-deb --contents "$d"
done

# The library package installs beside its other architectures' builds
# (libp11logout:i386 with libp11logout:amd64), so that /usr/$LIB/ in
# /etc/ld.so.preload serves 32-bit processes too: Multi-Arch: same, and
# every file outside /usr/lib/<multiarch> the same on every architecture
# (p11-run, which names its architecture's library, is a package of its own).
if [ "$(dpkg-deb -f "$deb" Multi-Arch)" != same ]; then
	echo "build-deb: libp11logout is not Multi-Arch: same" >&2
	exit 1
fi
if dpkg-deb --contents "$deb" | awk '{print $6}' | grep -v '^\./usr/lib/'"$multiarch"'/' |
	grep -v '/$' | grep -v '^\./usr/share/' | grep .; then
	echo "build-deb: libp11logout has architecture-dependent files outside /usr/lib/$multiarch (above)" >&2
	exit 1
fi
echo
echo "build-deb: libp11logout is Multi-Arch: same; its own files are all under /usr/lib/$multiarch or /usr/share"

# The installed p11-run must name the library where the package puts it.
mkdir "$work/x"
dpkg-deb -x "$deb" "$work/x"
dpkg-deb -x "$rundeb" "$work/x"
lib=/usr/lib/$multiarch/libp11logout.so
if [ ! -f "$work/x$lib" ]; then
	echo "build-deb: the package lacks $lib" >&2
	exit 1
fi
if ! grep -qF "'$lib'" "$work/x/usr/bin/p11-run"; then
	echo "build-deb: p11-run does not name $lib" >&2
	exit 1
fi
echo
echo "build-deb: p11-run preloads $lib"

echo
echo "build-deb: lintian"
lintian --info --display-info --pedantic "$changes" >"$work/lintian.log" 2>&1 || true
cat "$work/lintian.log"
if grep -q '^E: ' "$work/lintian.log"; then
	echo "build-deb: lintian reports errors" >&2
	exit 1
fi
echo "build-deb: lintian: no errors"

if [ -n "$out" ]; then
	cp "$work"/*.deb "$work"/*.changes "$work"/*.buildinfo "$out"/
	echo "build-deb: copied the .deb, .changes and .buildinfo to $out"
fi
