#!/bin/sh
# curl with its TLS client key on the token (--engine pkcs11, a pkcs11: URI,
# OPENSSL_CONF naming pkcs11-spy in front of SoftHSM2), RSA and EC keys,
# against "openssl s_server -Verify" on 127.0.0.1, which asks for and checks
# the client certificate; without and with the library, the run without it
# observed first (see consumer-lib.sh).  The server is bounded in time and
# always killed.

. "$P11L_TEST_SRCDIR/tap-lib.sh"
. "$P11L_TEST_SRCDIR/consumer-lib.sh"

command -v curl >/dev/null 2>&1 || skip_all "curl not installed"
curl -V 2>/dev/null | grep -q OpenSSL || skip_all "curl is not built with OpenSSL: $(curl -V | head -n 1)"
# Under the sanitizer CI's ASan step the runtime is preloaded in front of
# the library; curl 7.88 hangs under that runtime alone, without
# libp11logout (seen: a file:// fetch never returns).  Observed here, not
# assumed: if curl cannot run under the runtime, there is nothing to compare.
if [ -n "${P11L_PRELOAD_PREFIX:-}" ] &&
	! LD_PRELOAD="$P11L_PRELOAD_PREFIX" ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0 \
		timeout 20 curl -s -o /dev/null "file:///dev/null" >/dev/null 2>&1; then
	skip_all "curl does not run under the preloaded sanitizer runtime alone ($P11L_PRELOAD_PREFIX), without libp11logout"
fi

p11l_cons_fixture engine
srv_pid=
stop_server() {
	if [ -n "$srv_pid" ]; then
		kill "$srv_pid" 2>/dev/null
		wait "$srv_pid" 2>/dev/null
		srv_pid=
	fi
}
trap 'stop_server; rm -rf "$P11L_TMP"' EXIT
trap 'exit 1' INT TERM HUP

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$P11L_TMP/server.key" -out "$P11L_TMP/server.crt" -days 30 \
	-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
	>/dev/null 2>&1 || bail_out "cannot make the server's certificate"
cat "$P11L_TMP/$P11L_RSA_KEY.crt" "$P11L_TMP/$P11L_EC_KEY.crt" >"$P11L_TMP/clients.pem"
diag "$(curl -V | head -n 1)"

# start_server: s_server on a free port the kernel picks (port 0), for one
# connection, at most 60 s; sets port.  -Verify 1: a client without a
# certificate the CA file vouches for fails the handshake.
start_server() {
	rm -f "$P11L_TMP/server.out"
	timeout 60 openssl s_server -accept 127.0.0.1:0 -naccept 1 -www \
		-cert "$P11L_TMP/server.crt" -key "$P11L_TMP/server.key" \
		-Verify 1 -CAfile "$P11L_TMP/clients.pem" \
		>"$P11L_TMP/server.out" 2>&1 </dev/null &
	srv_pid=$!
	port=
	i=0
	while [ $i -lt 100 ]; do
		port=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$P11L_TMP/server.out")
		[ -n "$port" ] && return 0
		kill -0 "$srv_pid" 2>/dev/null || break
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# The server really checks: curl without a client key is turned away.
if start_server; then
	if curl -sS --max-time 20 --cacert "$P11L_TMP/server.crt" \
		"https://127.0.0.1:$port/" >/dev/null 2>&1; then
		not_ok "s_server -Verify refuses a client without a certificate"
	else
		ok "s_server -Verify refuses a client without a certificate"
	fi
	stop_server
else
	stop_server
	bail_out "openssl s_server did not start: $(head -n 3 "$P11L_TMP/server.out")"
fi

for key in "$P11L_RSA_KEY" "$P11L_EC_KEY"; do
	n=curl-$key
	for m in none lib; do
		start_server || { stop_server; bail_out "openssl s_server did not start"; }
		p11l_cons_run "$n-$m" "$m" env OPENSSL_CONF="$P11L_CONF" \
			curl -sS --max-time 30 --engine pkcs11 \
			--key-type ENG --key "$(p11l_cons_uri "$key")" \
			--cert "$P11L_TMP/$key.crt" --cacert "$P11L_TMP/server.crt" \
			"https://127.0.0.1:$port/"
		eval "rc_$m=\$rc"
		echo "$rc" >"$P11L_TMP/$n-$m.rc"
		stop_server
		# -www answers with the session it saw: the client's certificate,
		# verified.
		case $m in none) w=without ;; *) w=with ;; esac
		if grep -q "Subject: CN *= *$key" "$P11L_TMP/$n-$m.out" &&
			grep -q 'Verify return code: 0 (ok)' "$P11L_TMP/$n-$m.out"; then
			ok "$n: the server verified the client certificate ($w the library)"
		else
			not_ok "$n: the server verified the client certificate ($w the library)"
			sed 's/^/#   /' "$P11L_TMP/$n-$m.out" | head -n 20
			sed 's/^/#   /' "$P11L_TMP/server.out" | head -n 20
		fi
	done
	p11l_cons_check "$n"
done

done_testing
