#!/bin/sh
# p11-run: options, exit status, and the LD_PRELOAD it hands on.
. "$P11L_TEST_SRCDIR/tap-lib.sh"
p11l_tmpdir

run=$P11L_RUN

out=$("$run" --version) && case $out in "p11-run (libp11logout) "[0-9]*) true ;; *) false ;; esac
check "--version names the package and a version" [ $? -eq 0 ]

ver=$(sed -n 's/^AC_INIT(\[libp11logout\], \[\([^]]*\)\].*/\1/p' "$P11L_TOP_SRCDIR/configure.ac")
check "--version matches configure.ac ($ver)" [ "$out" = "p11-run (libp11logout) $ver" ]

"$run" --help | grep -q '^Usage: p11-run'
check "--help prints the usage" [ $? -eq 0 ]
"$run" -h >/dev/null
check "-h exits 0" [ $? -eq 0 ]

"$run" --frobnicate true 2>"$P11L_TMP/err"
rc=$?
check "an unknown option exits 2" [ $rc -eq 2 ]
check "an unknown option is named on stderr" grep -q "unknown option '--frobnicate'" "$P11L_TMP/err"

"$run" 2>"$P11L_TMP/err"
check "no command exits 2" [ $? -eq 2 ]

"$run" sh -c 'exit 7'
check "the command's exit status is passed on" [ $? -eq 7 ]

"$run" -- sh -c 'exit 0'
check "-- ends the options" [ $? -eq 0 ]

pre=$("$run" sh -c 'echo "$LD_PRELOAD"')
check "the library is in LD_PRELOAD" [ "$pre" = "$P11L_LIB" ]

pre=$(LD_PRELOAD=/nonexistent/other.so "$run" sh -c 'echo "$LD_PRELOAD"' 2>/dev/null)
check "an existing LD_PRELOAD is kept after the library" [ "$pre" = "$P11L_LIB /nonexistent/other.so" ]

dbg=$("$run" -d sh -c 'echo "$P11LOGOUT_DEBUG"')
check "-d sets P11LOGOUT_DEBUG=1" [ "$dbg" = 1 ]
dbg=$("$run" --debug sh -c 'echo "$P11LOGOUT_DEBUG"')
check "--debug sets P11LOGOUT_DEBUG=1" [ "$dbg" = 1 ]

P11L_LIB=/nonexistent/libp11logout.so "$run" true 2>"$P11L_TMP/err"
check "a missing library is an error with status 2" [ $? -eq 2 ]

# A process that never touches PKCS#11 prints nothing extra, even in debug.
out=$(P11LOGOUT_DEBUG=1 "$run" sh -c 'echo same' 2>&1)
check "no PKCS#11, no output from the library" [ "$out" = same ]

done_testing
