#!/bin/sh
# Bad configuration, table-driven: each P11LOGOUT_* variable with values
# that cannot be used gives exactly one warning line on stderr, the
# default applies, and the program's exit status and stdout are those of
# a run without the library.  Usable values give no warning.
. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/robust-lib.sh"

run base "" ROBUST_EXIT=9 -- "$ROBUST_DRIVER" login "$ODD"

# VARIABLE|LABEL|VALUE|WARNINGS[|TODO reason] (VALUE may hold spaces;
# "" is empty).
# P11LOGOUT_DEBUG: empty means off, like unset (libp11logout(8)), so it is
# usable.  The other variables get their unusable values and the value
# that is their default.
table() {
	cat <<'EOF2'
DEBUG|unknown word|verbose|1
DEBUG|empty||0
DEBUG|negative|-1|1
DEBUG|huge|99999999999999999999|1
DEBUG|non-numeric|x1|1
DEBUG|leading space| 1|1
DEBUG|trailing space|1 |1
DEBUG|tab|	1|1
DEBUG|valid 0|0|0
DEBUG|valid 1|1|0
DEBUG|valid yes|yes|0
TIMEOUT|unknown word|soon|1
TIMEOUT|empty||1
TIMEOUT|negative|-1|1
TIMEOUT|huge|99999999999999999999|1
TIMEOUT|non-numeric|5s|1
TIMEOUT|leading space| 3|1
TIMEOUT|trailing space|3 |1
TIMEOUT|above 3600|3601|1
TIMEOUT|valid 0|0|0
TIMEOUT|valid 3|3|0
TIMEOUT|valid 3600|3600|0
WAIT|unknown word|soon|1
WAIT|empty||1
WAIT|negative|-1|1
WAIT|huge|99999999999999999999|1
WAIT|valid 0|0|0
MODE|unknown word|verbose|1
MODE|empty||1
MODE|negative|-1|1
MODE|huge|99999999999999999999|1
MODE|leading space| logout|1
MODE|valid logout|logout|0
LOG|unknown word|verbose|1
LOG|empty||1
LOG|negative|-1|1
LOG|valid stderr|stderr|0
MODULES|empty||1
SIGNALS|unknown word|verbose|1
SIGNALS|negative|-1|1
SIGNALS|huge|99999999999999999999|1
SIGNALS|number|15|1
SIGNALS|lower case|term|1
SIGNALS|one good one bad|TERM,KILL|1
SIGNALS|not catchable|KILL|1
SIGNALS|crash signal|SEGV|1
SIGNALS|empty||0
SIGNALS|valid TERM|TERM|0
SIGNALS|valid list|TERM,INT,HUP|0
SIGNALS|valid SIG names|SIGTERM SIGQUIT|0
SIGNALS|valid PIPE|PIPE|0
MODULE|empty||1
CONFIG|missing file|/nonexistent/libp11logout.conf|1
EOF2
}

i=0
table >"$T/table"
while IFS='|' read -r var label value warns why; do
	i=$((i + 1))
	n=cfg-$i
	run "$n" lib ROBUST_EXIT=9 "P11LOGOUT_$var=$value" -- "$ROBUST_DRIVER" login "$ODD"
	what="P11LOGOUT_$var $label ('$value')"
	# Debug output aside, stderr is the warnings alone.
	if [ "$var" = DEBUG ] && { [ "$value" = 1 ] || [ "$value" = yes ]; }; then
		got=$(grep -c "^libp11logout: P11LOGOUT_$var=" "$T/$n.err")
	else
		got=$(wc -l <"$T/$n.err")
	fi
	if [ -n "$why" ]; then
		todo "$what: $warns warning line(s), got $got" "$why" test "$got" = "$warns"
	elif [ "$got" = "$warns" ]; then
		ok "$what: $warns warning line(s)"
	else
		not_ok "$what: $warns warning line(s), got $got"
		show "$T/$n.err"
	fi
	check "$what: all of stderr is the library's" \
		sh -c "! grep -qv '^libp11logout: ' '$T/$n.err'"
	if [ "$var" = DEBUG ] && [ "$value" != 1 ] && [ "$value" != yes ]; then
		check "$what: no debug output" \
			test "$(grep -vc "P11LOGOUT_$var=" "$T/$n.err")" = 0
	fi
	if [ "$var" = DEBUG ] && { [ "$value" = 1 ] || [ "$value" = yes ]; }; then
		check "$what: debug output" grep -q 'C_Logout' "$T/$n.err"
	fi
	same "$what: exit status as without the library" "$T/base.rc" "$T/$n.rc"
	same "$what: stdout as without the library" "$T/base.out" "$T/$n.out"
	expect "$what: still logged out at exit" "$T/$n.exit" <<EOF2
odd C_Logout(slot 1) -> CKR_OK
odd C_CloseSession(slot 1) -> CKR_OK
EOF2
done <"$T/table"

# A warning names the variable and the value.
run words lib P11LOGOUT_TIMEOUT=soon -- "$ROBUST_DRIVER" login "$ODD"
check "the TIMEOUT warning names the variable and the value" \
	grep -q "^libp11logout: P11LOGOUT_TIMEOUT='soon'" "$T/words.err"

# The default really applies after a bad value: a stuck logout waits 5 s.
n=bad-timeout-default
run "$n" lib P11LOGOUT_TIMEOUT=soon ODD_MODE=logout-hang ROBUST_EXIT=9 -- \
	"$ROBUST_DRIVER" login "$ODD"
check "P11LOGOUT_TIMEOUT=soon: the default 5 s bound applies (waited $(ms $n) ms)" \
	test "$(ms $n)" -ge 5000
within "P11LOGOUT_TIMEOUT=soon: ... and ends the wait" "$n" 6000
same "P11LOGOUT_TIMEOUT=soon, stuck: exit status unchanged" "$T/base.rc" "$T/$n.rc"

# Both bad at once: one line each.
run both lib P11LOGOUT_DEBUG=maybe P11LOGOUT_TIMEOUT=-3 -- "$ROBUST_DRIVER" login "$ODD"
check "both bad: exactly two lines on stderr" test "$(wc -l <"$T/both.err")" = 2

# A process that never uses PKCS#11 never reads them.
run nomodule lib P11LOGOUT_DEBUG=maybe P11LOGOUT_TIMEOUT=soon -- "$ROBUST_DRIVER"
check "a program that loads no module: no warning" \
	sh -c "! grep -q libp11logout '$T/nomodule.err'"
check "a program that loads no module: its own status (2)" test "$(rc nomodule)" = 2

done_testing
