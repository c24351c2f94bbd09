#!/bin/bash
# CI on another Debian release: the README's two commands, exactly as the
# README writes them, in a fresh minbase debootstrap chroot.
#
#     DIST=trixie bash .ci/distro.sh      (the default; Debian 13)
#     DIST=sid bash .ci/distro.sh         (unstable; moves every day)
#     ARCH=i386 DIST=trixie bash .ci/distro.sh   (ARCH: default amd64)
#     DIST=sid OPENSSL=4 bash .ci/distro.sh      (unstable with OpenSSL 4.0
#                                 from experimental: openssl, libssl-dev and
#                                 libssl4 installed from there before the
#                                 README's commands; the providers and
#                                 engines stay unstable's OpenSSL 3 builds)
#
# Prints the chroot's package versions, the time of each step and
# "N passed, N failed" for that distribution; exits non-zero when a step
# or a test fails.  Needs root, debootstrap and the Debian mirror.
#
# The tree is made anew on every run, under the clone (ci-chroot/), and
# removed at the end unless P11L_KEEP_CHROOT=1.  Only downloaded .deb files
# are kept between runs, in /var/cache/p11l-ci: debootstrap checks each
# against the mirror's signed Release before it uses it, and apt against
# its signed Packages, so a stale or damaged file is fetched again, never
# trusted.  DIST_SRC=worktree copies the working tree (tracked and
# untracked files that git does not ignore) instead of HEAD.
set -euo pipefail
umask 022
DIST=${DIST:-trixie}
ARCH=${ARCH:-amd64}
case $DIST in
bookworm | trixie | forky | sid) ;;
*) echo "distro.sh: DIST must be bookworm, trixie, forky or sid, not '$DIST'" >&2; exit 2 ;;
esac
case $ARCH in
*[!a-z0-9]* | '') echo "distro.sh: bad ARCH '$ARCH'" >&2; exit 2 ;;
esac
OPENSSL=${OPENSSL:-}
case $DIST/$OPENSSL in
*/ | sid/4) ;;
*) echo "distro.sh: OPENSSL=4 needs DIST=sid (experimental), not DIST=$DIST OPENSSL=$OPENSSL" >&2; exit 2 ;;
esac
[ "$(id -u)" = 0 ] || { echo "distro.sh: needs root (debootstrap, mount, chroot)" >&2; exit 2; }
command -v debootstrap >/dev/null || { echo "distro.sh: debootstrap is not installed" >&2; exit 2; }

top=$(cd "$(dirname "$0")/.." && pwd -P)
# The mirror apt already uses on this host (deb.debian.org as a fallback).
mirror=$(sed -n 's/^URIs: *\(http[^ ]*\/debian\)\/*$/\1/p; s/^deb  *\(\[[^]]*\] *\)\{0,1\}\(http[^ ]*\/debian\)\/*  .*/\2/p' \
	/etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1 || true)
mirror=${mirror:-http://deb.debian.org/debian}
base=$top/ci-chroot
# The name of this run's tree and logs: sid-amd64, sid-openssl4-amd64.
name=$DIST${OPENSSL:+-openssl$OPENSSL}-$ARCH
root=$base/$name
# The .deb cache is the release's (each file is verified before use).
cache=/var/cache/p11l-ci/$DIST-$ARCH
case $root in *[!A-Za-z0-9/._+-]*) echo "distro.sh: unusual characters in $root" >&2; exit 2 ;; esac

t_start=$(date +%s)
step_t0=$t_start
# step NAME: the time of the step that ends here.
times=
step() {
	local now
	now=$(date +%s)
	times="$times$(printf '%-28s %4d s' "$1" $((now - step_t0)))
"
	echo "=== distro.sh ($DIST): $1: $((now - step_t0)) s"
	step_t0=$now
}

# Mounts at or under DIR, deepest first.
mounts_under() {
	findmnt -rn -o TARGET | awk -v d="$1" '$0 == d || index($0, d "/") == 1' | sort -r
}
unmount_all() {
	local m
	for m in $(mounts_under "$root"); do
		umount "$m" 2>/dev/null || umount -l "$m" || echo "distro.sh: cannot unmount $m" >&2
	done
}
# Removes the tree, never while anything is still mounted inside it.
remove_tree() {
	[ -e "$root" ] || return 0
	unmount_all
	if [ -n "$(mounts_under "$root")" ]; then
		echo "distro.sh: still mounted under $root, NOT removing it:" >&2
		mounts_under "$root" >&2
		return 1
	fi
	rm -rf --one-file-system "$root"
}
# run COMMAND...: in a session of its own, waited for so that a signal to
# this script runs on_exit at once, which then ends that session first.
child=
run() {
	local st=0
	setsid "$@" &
	child=$!
	wait "$child" || st=$?
	child=
	return "$st"
}
# Processes whose root is the tree: only this script's children enter it,
# and apt starts dpkg in a process group of its own.
tree_pids() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && echo "${p#/proc/}"
	done
	return 0
}
on_exit() {
	local rc=$? i p
	trap - EXIT INT TERM HUP
	if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
		kill -TERM -- "-$child" 2>/dev/null || true
		for i in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$child" 2>/dev/null || break
			sleep 1
		done
		kill -KILL -- "-$child" 2>/dev/null || true
		wait "$child" 2>/dev/null || true
	fi
	for i in TERM TERM TERM KILL; do
		p=$(tree_pids)
		[ -n "$p" ] || break
		kill -"$i" $p 2>/dev/null || true
		sleep 1
	done
	unmount_all
	if [ -n "$(mounts_under "$root")" ]; then
		echo "distro.sh: mounts left under $root:" >&2
		mounts_under "$root" >&2
		rc=1
	elif [ "${P11L_KEEP_CHROOT:-0}" != 1 ]; then
		remove_tree || rc=1
	else
		echo "distro.sh: kept $root (P11L_KEEP_CHROOT=1)"
	fi
	exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# A tree left by an earlier run (killed by SIGKILL, say) is not reused.
remove_tree || exit 1
mkdir -p "$root/var/cache/apt/archives" "$cache/debootstrap" "$cache/apt/partial"
rm -f "$base/$name-test-suite.log"
# dpkg without fsync (debootstrap's second stage reads this file too), as
# sbuild and pbuilder do for throwaway trees: the tree is deleted at the
# end, and the packages installed are the same.
mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
echo force-unsafe-io >"$root/etc/dpkg/dpkg.cfg.d/p11l-unsafe-io"
# Seed debootstrap with the files of earlier runs (it verifies each).
find "$cache/debootstrap" -maxdepth 1 -name '*.deb' -exec cp -t "$root/var/cache/apt/archives/" {} +

echo "=== distro.sh: debootstrap --variant=minbase $DIST ($ARCH) from $mirror into $root"
run debootstrap --variant=minbase --arch="$ARCH" "$DIST" "$root" "$mirror" >"$base/debootstrap-$name.log" 2>&1 || {
	tail -n 30 "$base/debootstrap-$name.log"
	echo "distro.sh: debootstrap failed (log: $base/debootstrap-$name.log)" >&2
	exit 1
}
cp -u "$root"/var/cache/apt/archives/*.deb "$cache/debootstrap/" 2>/dev/null || true
step "debootstrap"

# What a fresh install has: the updates and security suites of a release.
case $DIST in
sid) ;;
*)
	echo "deb $mirror $DIST-updates main" >>"$root/etc/apt/sources.list"
	echo "deb ${mirror%/debian}/debian-security $DIST-security main" >>"$root/etc/apt/sources.list"
	;;
esac
# Unstable's Release file may be past its Valid-Until date on the mirror.
if [ "$DIST" = sid ]; then
	echo 'Acquire::Check-Valid-Until "false";' >"$root/etc/apt/apt.conf.d/99p11l-no-check-valid-until"
fi
# No service starts inside the chroot.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
cp -L /etc/resolv.conf "$root/etc/resolv.conf"

for m in proc sys dev dev/pts; do
	mkdir -p "$root/$m"
	mount --bind "/$m" "$root/$m"
	mount --make-private "$root/$m"
done
# apt keeps what it downloads for the next run (verified again on use).
mount --bind "$cache/apt" "$root/var/cache/apt/archives"
mount --make-private "$root/var/cache/apt/archives"

# The source, as a fresh clone has it.
mkdir "$root/src"
if [ "${DIST_SRC:-head}" = worktree ]; then
	(cd "$top" && git ls-files -z --cached --others --exclude-standard |
		tar --null --ignore-failed-read -T - -cf -) | tar -xf - -C "$root/src"
else
	git -C "$top" archive --format=tar HEAD | tar -xf - -C "$root/src"
fi
step "mounts and source"

# OPENSSL=4: experimental's OpenSSL before the README's commands, which
# then find it installed (the README's apt-get keeps it: nothing there asks
# for an older one).
if [ "$OPENSSL" = 4 ]; then
	echo "deb $mirror experimental main" >"$root/etc/apt/sources.list.d/experimental.list"
	echo "=== distro.sh ($DIST): OpenSSL 4 from experimental"
	run chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
		DEBIAN_FRONTEND=noninteractive /bin/bash -c \
		'apt-get update && apt-get install -y --no-install-recommends -t experimental openssl libssl-dev libssl4 &&
		dpkg-query -W -f "\${Package} \${Version}\n" openssl libssl-dev libssl4 && openssl version' \
		>"$base/$name-openssl.log" 2>&1 || {
		tail -n 30 "$base/$name-openssl.log"
		echo "distro.sh: installing OpenSSL 4 from experimental failed (log: $base/$name-openssl.log)" >&2
		exit 1
	}
	tail -n 4 "$base/$name-openssl.log" | sed 's/^/    /'
	step "OpenSSL 4 (experimental)"
fi

# The README's two commands: the first and second sh block under
# "## Quick start", run as they are written.
readme_cmd() {
	awk -v want="$1" '
		/^## / { inqs = ($0 == "## Quick start") }
		inqs && /^```sh$/ { n++; inblk = (n == want); next }
		inblk && /^```$/ { exit }
		inblk { print }
	' "$top/README.md"
}
cmd1=$(readme_cmd 1)
cmd2=$(readme_cmd 2)
[ -n "$cmd1" ] && [ -n "$cmd2" ] || { echo "distro.sh: the README's quick start commands not found" >&2; exit 1; }

# in_chroot COMMAND: as root in /src, with the environment of a login
# shell (no tty, so debconf is told not to ask).
in_chroot() {
	run chroot "$root" /usr/bin/env -i HOME=/root LOGNAME=root USER=root \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		LANG=C.UTF-8 TERM=dumb DEBIAN_FRONTEND=noninteractive \
		/bin/bash -c "cd /src && $1"
}

# Each command's output goes to a log beside the tree; its end is shown.
rc=0
echo "=== distro.sh ($DIST): README quick start:"
echo "$cmd1"
in_chroot "$cmd1" >"$base/$name-quickstart.log" 2>&1 || rc=$?
if [ "$rc" = 0 ]; then
	tail -n 12 "$base/$name-quickstart.log" | sed 's/^/    /'
else
	tail -n 60 "$base/$name-quickstart.log" | sed 's/^/    /'
	echo "distro.sh: the quick start failed (status $rc; log: $base/$name-quickstart.log)"
fi
step "quick start"

# The packages of the tests with the YubiHSM 2's own software (the
# yubihsm-*.sh tests: Debian's module on the simulator, the signing tools,
# pkcs11-provider) and of the other real consumers (p11tool, PyKCS11, NSS,
# evmctl) and the man page check, which the quick start does not install;
# Debian 12 packages none of the yubihsm ones, so bookworm runs without
# them and those tests skip, naming what is missing.
case $DIST in
bookworm) ;;
*)
	if [ "$rc" = 0 ]; then
		echo "=== distro.sh ($DIST): the YubiHSM test packages"
		in_chroot "apt-get install -y --no-install-recommends yubihsm-pkcs11 yubihsm-shell \
			python3-yubihsm python3-requests python3-cryptography pkcs11-provider osslsigncode sbsigntool curl \
			gnutls-bin python3-pykcs11 libnss3-tools ima-evm-utils man-db groff-base" \
			>"$base/$name-yubihsm-packages.log" 2>&1 || {
			rc=$?
			tail -n 30 "$base/$name-yubihsm-packages.log" | sed 's/^/    /'
			echo "distro.sh: installing the YubiHSM test packages failed (status $rc)"
		}
		step "yubihsm test packages"
	fi
	;;
esac

echo "=== distro.sh ($DIST): package versions"
in_chroot "dpkg-query -W -f '\${db:Status-Abbrev} \${Package} \${Version}\n' openssl 'libssl3*' \
	'libssl4*' libssl-dev libengine-pkcs11-openssl softhsm2 'libsofthsm2*' opensc opensc-pkcs11 p11-kit p11-kit-modules \
	'pkcs11-provider' yubihsm-pkcs11 libyubihsm2 libyubihsm-http2 yubihsm-shell python3-yubihsm \
	python3-cryptography python3-requests osslsigncode sbsigntool gcc libc6 2>/dev/null | awk '\$1 == \"ii\" { print \$2, \$3 }';
	gcc --version | head -n 1; openssl version" | sed 's/^/    /' || true

passed=0 failed=0 skipped=0
if [ "$rc" = 0 ]; then
	echo "=== distro.sh ($DIST): the test suite:"
	echo "$cmd2"
	in_chroot "$cmd2" >"$base/$name-check.log" 2>&1 || rc=$?
	step "test suite"
	# What the YubiHSM tests cost: their own wall time, from the log's
	# comments (each ends with "# N s").
	ysecs=$(cat "$root"/src/tests/yubihsm-*.log 2>/dev/null |
		sed -n 's/^# yubihsm tests: this test took \([0-9]*\) s$/\1/p' | awk '{ s += $1 } END { print s + 0 }')
	echo "=== distro.sh ($DIST): the yubihsm-*.sh tests took $ysecs s in all"
	grep -E '^(ERROR|XPASS):|^# [A-Z]+: ' "$base/$name-check.log" | sed 's/^/    /' || true
	log=$root/src/tests/test-suite.log
	if [ -f "$log" ]; then
		# Kept beside the tree for .ci/run's totals.
		cp "$log" "$base/$name-test-suite.log"
		num() { sed -n "s/^# $1: *//p" "$log" | head -n 1; }
		p=$(num PASS) f=$(num FAIL) e=$(num ERROR) s=$(num SKIP) x=$(num XPASS)
		passed=${p:-0} failed=$((${f:-0} + ${e:-0} + ${x:-0})) skipped=${s:-0}
		# The test lines that did not pass, and the reasons for the skips.
		for t in "$root"/src/tests/*.log; do
			case $t in */test-suite.log) continue ;; esac
			grep -E '^(not ok|Bail out)' "$t" | sed "s|^|    ${t##*/}: |" || true
			grep -E '^(ok .*# SKIP|1\.\.0 # SKIP)' "$t" | sed 's/^ok [0-9]* //' | sort | uniq -c |
				sed "s|^ *\([0-9]*\) |    ${t##*/}: \1 x |" || true
		done
	else
		echo "distro.sh: no test-suite.log"
		[ "$rc" != 0 ] || rc=1
	fi
fi

step_t0=$t_start
echo "=== distro.sh ($DIST, $ARCH): times"
printf '%s' "$times"
step "total"
echo "$DIST${OPENSSL:+ (OpenSSL $OPENSSL)}: $passed passed, $failed failed, $skipped skipped"
[ "$rc" = 0 ] && [ "$failed" = 0 ] || exit 1
