#!/bin/sh
# libp11logout.so exports only what it interposes and needs libc alone: no
# libdl, no libcrypto, no libp11.  What it interposes: dlsym (to hand out
# wrapped getters) and OPENSSL_cleanup of libcrypto 3 and 4
# (preload/openssl-cleanup.c: logins are released before a program's own
# OPENSSL_cleanup tears OpenSSL 3 down; 4.0's is forwarded only).
. "$P11L_TEST_SRCDIR/tap-lib.sh"

[ -f "$P11L_LIB" ] || bail_out "missing $P11L_LIB: run make first"
for tool in nm readelf objdump; do
	command -v $tool >/dev/null || skip_all "$tool not installed"
done
p11l_tmpdir
T=$P11L_TMP

# Defined dynamic symbols, with their versions: dlsym in the base version
# (no suffix: it must match callers bound to any dlsym@GLIBC_x), and
# OPENSSL_cleanup once per libcrypto version callers bind to, 3.0.0 the
# default (preload/openssl-cleanup.c).  GNU ld also defines each version
# name as an absolute symbol (A); lld does not.
if nm -D --defined-only "$P11L_LIB" >"$T/nm"; then
	ok "nm -D --defined-only runs"
else
	not_ok "nm -D --defined-only runs"
fi
awk 'NF >= 3 && !($2 == "A" && $3 ~ /^OPENSSL_[34]\.0\.0$/) { print $2, $3 }' "$T/nm" |
	sort >"$T/defined"
sort >"$T/want" <<EOF
T OPENSSL_cleanup@@OPENSSL_3.0.0
T OPENSSL_cleanup@OPENSSL_4.0.0
T dlsym
EOF
if cmp -s "$T/want" "$T/defined"; then
	ok "the defined dynamic symbols are exactly the functions dlsym, OPENSSL_cleanup@@OPENSSL_3.0.0 and OPENSSL_cleanup@OPENSSL_4.0.0"
else
	not_ok "the defined dynamic symbols are exactly the functions dlsym, OPENSSL_cleanup@@OPENSSL_3.0.0 and OPENSSL_cleanup@OPENSSL_4.0.0"
	show "$T/nm"
fi
# The version definitions: the base (the file's name) and the two nodes,
# in that order (a reference without a version takes index 2's).
readelf -V "$P11L_LIB" | sed -n 's/.*Index: \([0-9]*\).*Name: \(.*\)$/\1 \2/p' >"$T/verdef"
expect "version definitions: the base, OPENSSL_3.0.0, OPENSSL_4.0.0" "$T/verdef" <<EOF
1 libp11logout.so
2 OPENSSL_3.0.0
3 OPENSSL_4.0.0
EOF
# dlsym as the symbol table names it: without a version, the base.
readelf -W --dyn-syms "$P11L_LIB" | awk '$NF ~ /^dlsym(@|$)/ { print $NF }' >"$T/dlsym"
expect "dlsym is unversioned (the base version)" "$T/dlsym" <<EOF
dlsym
EOF

# NEEDED entries, from two tools.
readelf -d "$P11L_LIB" | sed -n 's/.*(NEEDED).*\[\(.*\)\].*/\1/p' | sort >"$T/needed.readelf"
objdump -p "$P11L_LIB" | awk '$1 == "NEEDED" { print $2 }' | sort >"$T/needed.objdump"
# A sanitizer build (the sanitizer CI) also names the sanitizer runtime
# and what it needs: P11L_SANITIZER_NEEDED lists them.
{ echo libc.so.6; for n in ${P11L_SANITIZER_NEEDED:-}; do echo "$n"; done; } |
	sort >"$T/want"
if cmp -s "$T/want" "$T/needed.readelf"; then
	ok "readelf: NEEDED is libc.so.6 only"
else
	not_ok "readelf: NEEDED is libc.so.6 only"
	show "$T/needed.readelf"
fi
if cmp -s "$T/want" "$T/needed.objdump"; then
	ok "objdump: NEEDED is libc.so.6 only"
else
	not_ok "objdump: NEEDED is libc.so.6 only"
	show "$T/needed.objdump"
fi

# Nothing from libcrypto or libp11: no such library named in the dynamic
# section, and no undefined symbol of theirs.
readelf -d "$P11L_LIB" >"$T/dynamic"
if grep -Eiq 'libcrypto|libssl|libp11\.so|libp11-' "$T/dynamic"; then
	not_ok "the dynamic section names no libcrypto/libssl/libp11"
	show "$T/dynamic"
else
	ok "the dynamic section names no libcrypto/libssl/libp11"
fi
nm -D --undefined-only "$P11L_LIB" | awk '{ print $NF }' >"$T/undefined"
if grep -Eq '^(EVP_|OPENSSL_|CRYPTO_|ENGINE_|ERR_|PKCS11_)' "$T/undefined"; then
	not_ok "no undefined libcrypto/libp11 symbol"
	show "$T/undefined"
else
	ok "no undefined libcrypto/libp11 symbol"
fi
check "it does use libc (the check sees undefined symbols)" \
	grep -q 'GLIBC_' "$T/undefined"

# Every glibc symbol version the library references is checked by the
# loader in every process on the host (HACKING.md, invariant 3): two are
# allowed, the one of dlvsym (libc's dl functions) and the port's
# baseline (the one plain functions such as write have; under a sanitizer
# build they are the runtime's, unversioned); the rest is looked up at
# the first module (preload/libc-late.h).
objdump -T "$P11L_LIB" | awk '/\*UND\*/ { for (i = 1; i <= NF; i++) if ($i ~ /^\(?GLIBC_/) { v = $i; gsub(/[()]/, "", v); print v, $NF } }' >"$T/versions"
dlv=$(awk '$2 == "dlvsym" { print $1 }' "$T/versions")
awk '{ print $1 }' "$T/versions" | sort -u >"$T/used"
if [ -n "$dlv" ] && [ "$(wc -l <"$T/used")" -le 2 ]; then
	ok "glibc symbol versions referenced: at most two, dlvsym's ($dlv) and one more ($(grep -v -x -F "$dlv" "$T/used" | paste -s -d ' ' -))"
else
	not_ok "glibc symbol versions referenced: at most two, dlvsym's and one more"
	show "$T/used" "$T/versions"
fi

done_testing
