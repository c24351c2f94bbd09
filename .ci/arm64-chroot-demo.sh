#!/bin/bash
# The quick-start demo (contrib/demo.sh: SoftHSM2, openssl, libp11's
# engine, five signing processes) in a Debian 12 arm64 chroot under
# qemu-user, with an arm64 build of the library.  Too slow for every CI
# run (the chroot alone takes many minutes under emulation); run by hand,
# as root, on an amd64 Debian machine with debootstrap, qemu-user-static
# and binfmt-support:
#
#   .ci/arm64-chroot-demo.sh [BUILD-DIR [ROOT]]
#
# BUILD-DIR: a configured and built arm64 tree (default ci-cross/arm64, as
# .ci/cross.sh leaves it); ROOT: where the chroot goes (default
# /var/tmp/p11l-arm64-root; reused when it is already complete).
# /proc, /sys, /dev and /dev/pts are bind-mounted for the run and
# unmounted on every way out; the script never deletes the chroot.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
build=$(cd "${1:-$top/ci-cross/arm64}" && pwd)
root=${2:-/var/tmp/p11l-arm64-root}
mirror=${P11L_DEBIAN_MIRROR:-http://deb.debian.org/debian}
lib=$build/preload/.libs/libp11logout.so

[ "$(id -u)" = 0 ] || { echo "arm64-demo: run as root" >&2; exit 1; }
[ -f "$lib" ] || { echo "arm64-demo: no $lib (run .ci/cross.sh first)" >&2; exit 1; }
file -L "$lib" | grep -q 'ARM aarch64' || { echo "arm64-demo: $lib is not an arm64 library" >&2; exit 1; }
[ -e /proc/sys/fs/binfmt_misc/register ] ||
	mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true

mounted=
cleanup() {
	local m
	for m in $mounted; do
		umount "$root$m" 2>/dev/null || umount -l "$root$m" || true
	done
	mounted=
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
mount_in() {
	mkdir -p "$root$1"
	mount --bind "$1" "$root$1"
	mounted="$1 $mounted"	# unmounted in reverse order
}

t0=$(date +%s)
if [ ! -x "$root/usr/bin/softhsm2-util" ] || [ -e "$root/debootstrap" ]; then
	debootstrap --arch=arm64 --foreign --variant=minbase \
		--include=softhsm2,opensc,opensc-pkcs11,openssl,libengine-pkcs11-openssl \
		bookworm "$root" "$mirror"
	cp /usr/bin/qemu-aarch64-static "$root/usr/bin/"
	chroot "$root" /debootstrap/debootstrap --second-stage
fi
t1=$(date +%s)

mount_in /proc
mount_in /sys
mount_in /dev
mount_in /dev/pts

# The library, p11-run (told where the library is) and the demo.
make -C "$build/preload" p11-run >/dev/null
mkdir -p "$root/opt/p11l"
cp "$lib" "$build/preload/p11-run" "$top/contrib/demo.sh" "$root/opt/p11l/"
echo "arm64-demo: $(chroot "$root" uname -m) chroot of Debian $(cat "$root/etc/debian_version")," \
	"$(chroot "$root" openssl version)"
t2=$(date +%s)
status=0
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
	P11L_RUN=/opt/p11l/p11-run P11L_LIB=/opt/p11l/libp11logout.so \
	sh /opt/p11l/demo.sh || status=$?
t3=$(date +%s)
echo "arm64-demo: chroot $((t1 - t0)) s, demo $((t3 - t2)) s, demo exit status $status"
exit "$status"
