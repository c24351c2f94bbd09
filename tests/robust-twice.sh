#!/bin/sh
# The library loaded twice: two copies at two paths in LD_PRELOAD, or the
# same file through a symlink.  Exactly one C_Logout at exit.
. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/robust-lib.sh"

mkdir "$T/copy"
cp "$P11L_LIB" "$T/copy/libp11logout.so"
cp "$P11L_LIB" "$T/libp11logout-copy.so"
ln -s "$P11L_LIB" "$T/libp11logout-link.so"
pfx=${P11L_PRELOAD_PREFIX:+$P11L_PRELOAD_PREFIX }

run base "" -- "$ROBUST_DRIVER" login "$ODD"
i=0
for second in "$T/copy/libp11logout.so" "$T/libp11logout-copy.so" \
	"$T/libp11logout-link.so"; do
	i=$((i + 1))
	for order in first second; do
		n=twice-$i-$order
		if [ $order = first ]; then
			run "$n" "$pfx$P11L_LIB $second" -- "$ROBUST_DRIVER" login "$ODD"
		else
			run "$n" "$pfx$second $P11L_LIB" -- "$ROBUST_DRIVER" login "$ODD"
		fi
		what="${second##*/} ($order in LD_PRELOAD order)"
		expect "$n: $what: exactly one C_Logout at exit" "$T/$n.exit" <<EOF2
odd C_Logout(slot 1) -> CKR_OK
odd C_CloseSession(slot 1) -> CKR_OK
EOF2
		same "$n: exit status unchanged" "$T/base.rc" "$T/$n.rc"
		same "$n: stdout unchanged" "$T/base.out" "$T/$n.out"
		quiet "$n"
	done
done

done_testing
