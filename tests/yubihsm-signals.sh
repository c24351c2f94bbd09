#!/bin/sh
. "$P11L_TEST_SRCDIR/tap-lib.sh"
skip_all "not written yet"
