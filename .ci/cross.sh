#!/bin/bash
# CI: the library on every Debian architecture, cross-built with Debian's
# cross compilers and run under qemu-user; called by .ci/run.
#
# For each architecture: one configure (--host=TRIPLET, CC=TRIPLET-gcc,
# PKG_CONFIG_LIBDIR=/usr/lib/TRIPLET/pkgconfig, so that the tests needing
# libcrypto are left out rather than built against the build machine's),
# then four builds in the same directory, overriding CC and CFLAGS on
# make's command line: gcc and "clang --target=TRIPLET" (clang 14 with the
# cross gcc's sysroot and GNU binutils), each at -O2 and -O0 (libtool
# still links the shared object with the configured gcc driver).  Only what
# the tests need is built: the library in each build; the fake module and
# driver and the RTLD_NEXT chain once per architecture, with gcc -O2 (the
# chain's libraries are also built at -O0 whatever CFLAGS says).  Each
# build runs tests/fake-module.sh (every scenario logs out at exit) and
# tests/rtld-next.sh (dlsym(RTLD_NEXT, ...) from libraries preloaded
# around ours, also built at -O0); each -O0 build also tests/exports.sh.
#
# The test programs are the target's: binfmt_misc hands them to
# qemu-ARCH-static (qemu-user-static's entries; i386 is registered here
# when the kernel cannot run it), and QEMU_LD_PREFIX=/usr/TRIPLET gives
# them the cross libc.  P11L_EMULATED tells the tests (tests/tap-lib.sh).
# armhf-time64 is armhf built with 64-bit time_t and off_t, as Debian 13
# builds its 32-bit ports.  x32 is built but not run: qemu-user has no
# x32 target and Debian's kernel runs x32 code only when booted with
# syscall.x32=y.  armel is not
# built with clang: clang 14 makes every __atomic builtin a libatomic call
# on armv5te (and -Werror stops it), where gcc uses libgcc's helpers.
#
# Then a multiarch check: the i386 and amd64 builds copied to
# DIR/lib/i386-linux-gnu and DIR/lib/x86_64-linux-gnu serve both a 32-bit
# and a 64-bit program from the one LD_PRELOAD='DIR/$LIB/libp11logout.so',
# as /usr/$LIB/libp11logout.so does in /etc/ld.so.preload.
#
# Prints the table architecture x compiler x optimisation level (also in
# ci-cross/table.md) and the time taken; exits non-zero if a cell failed.
# Settings: P11L_CROSS_ARCHES (a subset, e.g. "arm64 s390x"),
# P11L_CROSS_JOBS (architectures built at once; default 2), P11L_CROSS_DIR
# (where the builds go; default ci-cross).
set -uo pipefail
cd "$(dirname "$0")/.."
top=$PWD
out=${P11L_CROSS_DIR:-$top/ci-cross}
jobs=${P11L_CROSS_JOBS:-2}
start=$(date +%s)

# Debian architecture, GNU triplet, qemu-user name.
all_targets="arm64:aarch64-linux-gnu:aarch64
armhf:arm-linux-gnueabihf:arm
armhf-time64:arm-linux-gnueabihf:arm
i386:i686-linux-gnu:i386
ppc64el:powerpc64le-linux-gnu:ppc64le
riscv64:riscv64-linux-gnu:riscv64
s390x:s390x-linux-gnu:s390x
armel:arm-linux-gnueabi:arm
mips64el:mips64el-linux-gnuabi64:mips64el
amd64:x86_64-linux-gnu:
x32:x86_64-linux-gnux32:"
variants="gcc:O2 gcc:O0 clang:O2 clang:O0"
tests="fake-module rtld-next"
test_targets="fake-module.la fake-module2.la fake-driver rtld-next-prog
	librtld-next-base.la rtld-next-a.la rtld-next-b.la rtld-next-a-O0.la
	rtld-next-b-O0.la"

# --- qemu-user through binfmt_misc ----------------------------------------
binfmt=/proc/sys/fs/binfmt_misc
if [ ! -e "$binfmt/register" ]; then
	mount -t binfmt_misc binfmt_misc "$binfmt" ||
		{ echo "cross: cannot mount binfmt_misc" >&2; exit 1; }
fi
update-binfmts --enable >/dev/null 2>&1 || true
# qemu-user-static leaves i386 to the kernel on amd64; where the kernel
# has no 32-bit support, hand i386 programs to qemu too (qemu's magic).
if [ ! -e "$binfmt/qemu-i386" ] &&
	! /usr/bin/qemu-i386-static --version >/dev/null 2>&1; then
	echo "cross: qemu-i386-static is missing" >&2; exit 1
fi
i386_runs() {
	local probe=$out/probe-i386
	printf 'int main(void){return 0;}\n' >"$probe.c"
	i686-linux-gnu-gcc -o "$probe" "$probe.c" 2>/dev/null &&
		QEMU_LD_PREFIX=/usr/i686-linux-gnu "$probe" 2>/dev/null
}
rm -rf "$out" && mkdir -p "$out"
if ! i386_runs && [ ! -e "$binfmt/qemu-i386" ]; then
	printf '%s' ':qemu-i386:M::\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x03\x00:\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-i386-static:' \
		>"$binfmt/register" || { echo "cross: cannot register qemu-i386" >&2; exit 1; }
	echo "cross: registered qemu-i386-static for i386 programs (the kernel runs none)"
fi

# --- one architecture: configure once, four builds, the tests ---------------
# cell ARCH CC OPT TEXT: one cell of the table.
cell() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$out/$1/cells"; }

run_tests() {
	local arch=$1 triplet=$2 qemu=$3 d=$4 tag=$5 t plan ok bad total=0 failed=0 short=
	local prefix=/usr/$triplet list=$tests tools=
	# At -O0 the compilers turn struct copies into memcpy calls, which
	# bring one more glibc symbol version (invariant 3): exports.sh
	# there too, with the target's binutils as nm, readelf and objdump.
	case $tag in
	*-O0)
		list="$list exports"
		tools=$d/$tag-tools
		mkdir -p "$tools"
		for t in nm readelf objdump; do
			if [ "$arch" = amd64 ]; then ln -sf "$(command -v $t)" "$tools/$t"
			else ln -sf "/usr/bin/$triplet-$t" "$tools/$t"; fi
		done ;;
	esac
	# i386 under qemu-i386 with the cross libc (libc6-i386-cross 2.36-8)
	# hangs in the exit handler's release thread (a spinning thread, seen
	# with no other libc); the build machine's libc6-i386 runs it fine.
	if [ "$arch" = i386 ] && [ -e /lib/ld-linux.so.2 ]; then prefix=/; fi
	for t in $list; do
		env -u LD_PRELOAD ${tools:+PATH=$tools:$PATH} \
			P11L_LIB="$d/preload/.libs/libp11logout.so" \
			P11L_TEST_BUILDDIR="$d/tests" P11L_TEST_SRCDIR="$top/tests" \
			P11L_TOP_SRCDIR="$top" \
			${qemu:+P11L_EMULATED=qemu-$qemu QEMU_LD_PREFIX=$prefix} \
			sh "$top/tests/$t.sh" >"$d/$tag-$t.tap" 2>&1
		plan=$(sed -n 's/^1\.\.\([0-9]*\).*/\1/p' "$d/$tag-$t.tap" | tail -n 1)
		ok=$(grep -c '^ok ' "$d/$tag-$t.tap")
		bad=$(grep -c '^not ok ' "$d/$tag-$t.tap")
		total=$((total + ok + bad)) failed=$((failed + bad))
		# A script that stopped early or planned nothing fails too.
		if [ -z "$plan" ] || [ "$plan" -eq 0 ] || [ "$plan" -ne $((ok + bad)) ]; then
			short="$short $t.sh incomplete;"
		fi
	done
	if [ "$failed" -eq 0 ] && [ -z "$short" ]; then
		echo "pass $total/$total"
	else
		echo "FAIL: $failed of $total;$short ($tag-*.tap)"
	fi
}

build_arch() {
	local arch=$1 triplet=$2 qemu=$3 d=$out/$1 host= gcc cc opt v tag res extra=
	mkdir -p "$d"
	# Debian 13 builds its 32-bit ports (but i386) with 64-bit time_t: the
	# C library's functions then have other names (__clock_gettime64...),
	# which preload/libc-late.h looks up.
	case $arch in *-time64) extra="-D_FILE_OFFSET_BITS=64 -D_TIME_BITS=64" ;; esac
	if [ "$arch" = amd64 ]; then gcc=gcc; else host=--host=$triplet gcc=$triplet-gcc; fi
	if ! (cd "$d" && "$top/configure" $host --enable-werror \
		--disable-dependency-tracking CC="$gcc" CFLAGS="-g -O2 $extra" \
		PKG_CONFIG_LIBDIR="/usr/lib/$triplet/pkgconfig" >configure.log 2>&1); then
		for v in $variants; do cell "$arch" "${v%:*}" "-${v#*:}" "FAIL: configure (configure.log)"; done
		return
	fi
	for v in $variants; do
		opt=-${v#*:} tag=${v%:*}${opt}
		if [ "${v%:*}" = gcc ]; then cc=$gcc
		elif [ "$arch" = amd64 ]; then cc=clang
		else cc="clang --target=$triplet"; fi
		if [ "$arch" = armel ] && [ "${v%:*}" = clang ]; then
			cell "$arch" "${v%:*}" "$opt" "not built: clang 14 has no lock-free atomics for armv5te, so the library would need libatomic (Debian builds armel with gcc)"
			continue
		fi
		make -C "$d/preload" clean >/dev/null 2>&1
		# shellcheck disable=SC2086
		# DWARF 4: valgrind 3.19 (the amd64 cells) cannot read clang 14's
		# default DWARF 5.
		if ! { make -C "$d/preload" CC="$cc" CFLAGS="-g -gdwarf-4 $opt $extra" libp11logout.la &&
			make -C "$d/tests" $test_targets; } \
			>"$d/$tag-build.log" 2>&1; then
			cell "$arch" "${v%:*}" "$opt" "FAIL: build ($tag-build.log)"
			continue
		fi
		if [ "$arch" = x32 ]; then
			"$d/tests/fake-driver" >/dev/null 2>&1 </dev/null
			if [ $? -eq 126 ]; then
				cell "$arch" "${v%:*}" "$opt" "built; not run (no qemu-user for x32, kernel without x32)"
				continue
			fi
		fi
		res=$(run_tests "$arch" "$triplet" "$qemu" "$d" "$tag")
		cell "$arch" "${v%:*}" "$opt" "$res"
	done
}

selected=
for t in $all_targets; do
	arch=${t%%:*}
	if [ -n "${P11L_CROSS_ARCHES:-}" ]; then
		case " $P11L_CROSS_ARCHES " in *" $arch "*) ;; *) continue ;; esac
	fi
	rest=${t#*:}
	if [ "$arch" != amd64 ] && ! command -v "${rest%%:*}-gcc" >/dev/null 2>&1; then
		mkdir -p "$out/$arch"
		for v in $variants; do cell "$arch" "${v%:*}" "-${v#*:}" "FAIL: ${rest%%:*}-gcc not installed"; done
		continue
	fi
	selected="$selected $t"
done

running=0
for t in $selected; do
	rest=${t#*:}
	build_arch "${t%%:*}" "${rest%%:*}" "${rest#*:}" &
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		wait -n
		running=$((running - 1))
	fi
done
wait

# --- one LD_PRELOAD with $LIB serves i386 and amd64 programs ----------------
multiarch_check() {
	local dir=$out/multiarch arch bin mod lib rc pass=0 fail=0 why=
	# What $LIB is for each program's loader, as the loader itself
	# expands it: Debian's multiarch libc (and the cross libc under qemu)
	# says lib/i386-linux-gnu, the biarch libc6-i386 that a build host may
	# have at /lib/ld-linux.so.2 says lib32.
	lib_of() {
		QEMU_LD_PREFIX=/usr/i686-linux-gnu LD_DEBUG=libs LD_LIBRARY_PATH='/p11l-probe/$LIB' \
			"$out/$1/tests/fake-driver" 2>&1 </dev/null |
			sed -n 's|.*search path=\(/p11l-probe/[^:]*\):.*|\1|p; s|.*search path=\(/p11l-probe/[^:	 ]*\)[	 ].*|\1|p' |
			sed 's|/tls.*||; s|/glibc-hwcaps.*||; s|^/p11l-probe/||' | head -n 1
	}
	lib32=$(lib_of i386) lib64=$(lib_of amd64)
	[ -n "$lib32" ] && [ -n "$lib64" ] && [ "$lib32" != "$lib64" ] ||
		{ echo "FAIL: cannot tell \$LIB of the i386 and amd64 loaders ('$lib32', '$lib64')"; return; }
	mkdir -p "$dir/$lib32" "$dir/$lib64"
	cp "$out/i386/preload/.libs/libp11logout.so" "$dir/$lib32/" &&
		cp "$out/amd64/preload/.libs/libp11logout.so" "$dir/$lib64/" ||
		{ echo "FAIL: the i386 and amd64 builds are not both there"; return; }
	: >"$dir/empty.conf"
	# drive ARCH PRELOAD TAG: fake-driver of ARCH logs in on the fake module.
	drive() {
		# The cross libc, whose $LIB is Debian's lib/i386-linux-gnu; with
		# P11LOGOUT_TIMEOUT=0 (release on the exiting thread) because of
		# the qemu-i386 hang described in run_tests.
		env -u LD_PRELOAD -u P11LOGOUT_DEBUG P11LOGOUT_CONFIG="$dir/empty.conf" \
			P11LOGOUT_TIMEOUT=0 \
			FAKE_PIN=s3cr3t-PIN-4711 FAKE_LOG="$dir/$3.log" QEMU_LD_PREFIX=/usr/i686-linux-gnu \
			LD_PRELOAD="$2" "$out/$1/tests/fake-driver" \
			"$out/$1/tests/.libs/fake-module.so" one-slot \
			>"$dir/$3.out" 2>"$dir/$3.err" </dev/null
		echo $? >"$dir/$3.rc"
	}
	logged_out() { sed '1,/^driver exit$/d' "$dir/$1.log" | grep -q 'C_Logout .*CKR_OK'; }
	for arch in i386 amd64; do
		# shellcheck disable=SC2016
		drive "$arch" "$dir/\$LIB/libp11logout.so" "$arch-lib"
		if [ "$(cat "$dir/$arch-lib.rc")" = 0 ] && logged_out "$arch-lib" &&
			! grep -q 'cannot be preloaded' "$dir/$arch-lib.err"; then
			pass=$((pass + 1))
		else
			fail=$((fail + 1)) why="$why $arch through \$LIB;"
		fi
	done
	# The control: the amd64 build named by its own path fails in an
	# i386 program, the way a fixed /usr/lib/x86_64-linux-gnu path would.
	drive i386 "$dir/$lib64/libp11logout.so" i386-fixed
	if grep -q 'cannot be preloaded' "$dir/i386-fixed.err" && ! logged_out i386-fixed; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1)) why="$why the control (a fixed amd64 path in an i386 program) did not fail;"
	fi
	if [ "$fail" -eq 0 ]; then echo "pass $pass/$pass (\$LIB: $lib32, $lib64)"; else echo "FAIL:$why"; fi
}
multiarch=
case " ${P11L_CROSS_ARCHES:-i386 amd64} " in
*" i386 "*" amd64 "*|*" amd64 "*" i386 "*) multiarch=$(multiarch_check) ;;
esac

# --- the table ---------------------------------------------------------------
end=$(date +%s)
table=$out/table.md
{
	echo "| architecture | gcc -O2 | gcc -O0 | clang -O2 | clang -O0 |"
	echo "|---|---|---|---|---|"
	for t in $all_targets; do
		arch=${t%%:*}
		[ -f "$out/$arch/cells" ] || continue
		row="| $arch |"
		for v in $variants; do
			c=$(awk -F'\t' -v c="${v%:*}" -v o="-${v#*:}" \
				'$2 == c && $3 == o { print $4 }' "$out/$arch/cells")
			row="$row ${c:-missing} |"
		done
		echo "$row"
	done
} >"$table"
echo
echo "cross: fake-module.sh + rtld-next.sh, TAP lines passed/run, per build"
cat "$table"
[ -n "$multiarch" ] && echo "cross: one LD_PRELOAD='DIR/\$LIB/libp11logout.so' for i386 and amd64 programs: $multiarch"
echo "cross: $((end - start)) s ($(nproc) cores, $jobs architectures at once)"

if grep -q '| FAIL\|missing' "$table" || [ "${multiarch#FAIL}" != "$multiarch" ]; then
	echo "cross: FAILED" >&2
	exit 1
fi
echo "cross: all builds passed"
