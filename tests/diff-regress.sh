#!/bin/sh
. "$P11L_TEST_SRCDIR/tap-lib.sh"
done_testing
