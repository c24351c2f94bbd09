#!/bin/sh
# p11-run called through a symlink named after a command (issue 9.5): the
# real command is the first of that name in PATH that is not p11-run
# itself, with PATH split on ':' alone.  A PATH entry that is also a glob
# pattern ("DIR/[x]") names that directory literally, not DIR/x.
. "$P11L_TEST_SRCDIR/tap-lib.sh"

[ -x "$P11L_RUN" ] || bail_out "missing $P11L_RUN"
p11l_tmpdir
T=$P11L_TMP
p11l_hermetic

mkdir "$T/bin" "$T/[x]" "$T/x"
ln -s "$P11L_RUN" "$T/bin/p11l-probe"
printf '#!/bin/sh\necho literal\n' >"$T/[x]/p11l-probe"
printf '#!/bin/sh\necho globbed\n' >"$T/x/p11l-probe"
chmod +x "$T/[x]/p11l-probe" "$T/x/p11l-probe"

# Control: the shell itself would glob the entry.
set -- "$T"/[x]
check "control: the entry '[x]' is also a glob matching x" [ "$1" = "$T/x" ]

out=$(PATH="$T/bin:$T/[x]:$T/x:$PATH" \
	"$T/bin/p11l-probe" 2>"$T/err")
check "the PATH entry '[x]' is taken literally (got '$out')" [ "$out" = literal ]
out=$(PATH="$T/bin:$T/x:$PATH" \
	"$T/bin/p11l-probe" 2>"$T/err")
check "without it, the next entry's command runs (got '$out')" [ "$out" = globbed ]
done_testing
