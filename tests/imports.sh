#!/bin/sh
# The library's files depend on each other in one direction only: read
# from the objects (which file references a global symbol another file
# defines), no file of preload/ reaches itself again through others.  The
# one run-time loop, a login arming the release that logs out through our
# own entries, goes through the entry table (preload/release.h), not
# through a reference.  dlsym itself is left out: every file may look
# symbols up, and ours is the one defined.
. "$P11L_TEST_SRCDIR/tap-lib.sh"

command -v nm >/dev/null || skip_all "nm not installed"
objs=$(dirname "$P11L_LIB")
set -- "$objs"/*.o
[ -f "$1" ] || bail_out "no objects in $objs: run make first"
p11l_tmpdir
T=$P11L_TMP

# FILE SYMBOL lines: what each file defines (D) and references (U).  An
# object is named by its source file (libtool prefixes the library).
nm -A "$@" 2>/dev/null | awk '
	{ f = $1; sub(/:.*/, "", f); sub(/.*\//, "", f); sub(/^[^-]*_la-/, "", f); sub(/\.o$/, "", f) }
	NF == 3 && $2 ~ /^[TDBRCVW]$/ { print "D", f, $3 }
	NF == 3 && $2 == "U" { print "U", f, $3 }' >"$T/syms"
awk '$1 == "D"' "$T/syms" | wc -l >"$T/ndef"
if [ "$(cat "$T/ndef")" -gt 20 ]; then
	ok "the objects define symbols ($(cat "$T/ndef"))"
else
	not_ok "the objects define symbols ($(cat "$T/ndef"))"
fi

# circles EDGES: every file that reaches itself again ("FROM TO" lines).
circles() {
	awk '{ n[$1] = n[$1] " " $2; node[$1]; node[$2] }
	function reach(from, to,    k, a, i) {
		if (seen[from]++) return 0
		k = split(n[from], a, " ")
		for (i = 1; i <= k; i++) if (a[i] == to || reach(a[i], to)) return 1
		return 0 }
	END { for (v in node) { split("", seen); if (reach(v, v)) print v } }' "$1" | sort
}

# The edges, then the circles.
awk '$1 == "D" && !($3 in def) { def[$3] = $2 }
	$1 == "U" && $3 != "dlsym" { use[NR] = $2 " " $3 }
	END { for (i in use) { split(use[i], u, " ");
		if ((u[2] in def) && def[u[2]] != u[1]) print u[1], def[u[2]] } }' \
	"$T/syms" | sort -u >"$T/edges"
circles "$T/edges" >"$T/circle"
if [ -s "$T/edges" ] && [ ! -s "$T/circle" ]; then
	ok "no import circle among the $(awk '{ print $1; print $2 }' "$T/edges" | sort -u | wc -l) files of preload/"
else
	not_ok "no import circle among the files of preload/ (on one: $(tr '\n' ' ' <"$T/circle"))"
	show "$T/edges"
fi

# The release depends on no wrapped call by name: its calls go through
# the entry table (a reference would close the loop in the objects).
if grep -q '^release calls-wrapped$' "$T/edges"; then
	not_ok "release.c references no wrapped call (it calls through the entry table)"
else
	ok "release.c references no wrapped call (it calls through the entry table)"
fi
# Can fail: the same reader, given one reference back, finds the circle.
{ cat "$T/edges"; echo "module-table calls-wrapped"; } >"$T/edges.back"
circles "$T/edges.back" >"$T/circle.back"
if grep -qx module-table "$T/circle.back" && grep -qx calls-wrapped "$T/circle.back"; then
	ok "control: one reference back (module-table to calls-wrapped) is found as a circle"
else
	not_ok "control: one reference back (module-table to calls-wrapped) is found as a circle"
	show "$T/circle.back"
fi

# The fuzz targets compile the core's sources themselves (tests/Makefile.am,
# fuzz_core, with config.c and log.c where a target takes them): every file
# of the core must be in that list, or make fuzz stops linking.
ls "$objs" | sed -n 's/^libp11logout_core_la-\(.*\)\.o$/\1/p' | sort >"$T/core"
sed -n '/^fuzz_core = /,/[^\\]$/p; /^fuzz_module_sources = /,/[^\\]$/p' "$P11L_TEST_SRCDIR/Makefile.am" |
	grep -o 'preload/[a-z0-9-]*\.c' | sed 's|preload/||; s|\.c$||' | sort -u >"$T/fuzzed"
if [ -s "$T/core" ] && comm -23 "$T/core" "$T/fuzzed" | grep -q .; then
	not_ok "the fuzz targets build every file of the core (missing: $(comm -23 "$T/core" "$T/fuzzed" | tr '\n' ' '))"
else
	ok "the fuzz targets build every file of the core ($(wc -l <"$T/core") files)"
fi
done_testing
