#!/bin/sh
# The module wrapper given a real module that is no PKCS#11 module (issue
# 9.5): the call fails, and the object it loaded to find out is unloaded
# again (the dlopen handle is not leaked).
. "$P11L_TEST_SRCDIR/tap-lib.sh"

PROG=$P11L_TEST_BUILDDIR/wrapper-unload
WRAP=$(dirname "$P11L_LIB")/libp11logout-module.so
NOTMOD=$P11L_TEST_BUILDDIR/.libs/librtld-next-base.so
p11l_fixture "$PROG" "$WRAP" "$NOTMOD"
p11l_hermetic

P11LOGOUT_MODULE=$NOTMOD \
	env LD_PRELOAD="$(p11l_preload_none)" "$PROG" "$WRAP" "$NOTMOD" >"$T/out" 2>"$T/err"
check "the program ran" [ $? = 0 ]
check "the getter fails (CKR_GENERAL_ERROR)" grep -qx 'C_GetFunctionList -> 0x5' "$T/out"
check "the reason is given on stderr" grep -q 'not a PKCS#11 module' "$T/err"
check "the object is unloaded again" grep -qx 'unloaded' "$T/out"
done_testing
