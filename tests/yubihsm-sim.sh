#!/bin/sh
# The YubiHSM 2 simulator (tests/yubihsm-sim) against the protocol's test
# vectors, our own raw client (what real clients never send: a wrong MAC,
# a 17th session, an idle session), and two independent real clients:
# yubihsm-shell (libyubihsm) and python3-yubihsm.  Where a real client is
# not installed (Debian 12) its checks are skipped, naming it.
. "$P11L_TEST_SRCDIR/tap-lib.sh"
p11l_tmpdir
. "$P11L_TEST_SRCDIR/yubihsm-lib.sh"
missing=$(p11l_sim_missing) && skip_all "the YubiHSM simulator needs $missing"
T=$P11L_TMP
sim() { "$P11L_PYTHON" "$P11L_SIM" "$@"; }
py() { "$P11L_PYTHON" "$@"; }
skip() { P11L_TAP_N=$((P11L_TAP_N + 1)); echo "ok $P11L_TAP_N # SKIP $*"; }
# PASS/FAIL lines (yubihsm-sim-raw.py) as TAP lines.
tap_lines() {
	while IFS= read -r line; do
		case $line in
		"PASS "*) ok "${line#PASS }" ;;
		"FAIL "*) not_ok "${line#FAIL }" ;;
		*) diag "$line" ;;
		esac
	done <"$1"
}
# counts: sessions_created and sessions_closed, one line.
counts() { echo "$(p11l_sim_stat sessions_created) $(p11l_sim_stat sessions_closed)"; }
# all_closed BEFORE: since BEFORE (counts), sessions were created, and as
# many closed by an authenticated CloseSession; none is open.
all_closed() {
	set -- $1 $(counts)
	diag "sessions created $1 -> $3, closed $2 -> $4, open $(p11l_sim_stat sessions_open)"
	[ "$3" -gt "$1" ] && [ $(($3 - $1)) -eq $(($4 - $2)) ] && [ "$(p11l_sim_stat sessions_open)" = 0 ]
}
openssl_verify() { openssl dgst -sha256 -verify "$1" -signature "$2" "$3" >"$T/verify.out" 2>&1; }
diag "python: $P11L_PYTHON, cryptography $(py -c 'import cryptography; print(cryptography.__version__)')"

sim --self-test >"$T/self-test.out" 2>&1
rc=$?
sed 's/^/# /' "$T/self-test.out"
check "the secure channel, both ends, matches PROTOCOL.md 3.7's test vectors" [ $rc -eq 0 ]

sim --listen 0.0.0.0:0 >/dev/null 2>"$T/any.err"
check "a non-loopback --listen address is refused" [ $? -ne 0 ]

p11l_sim_seed_keys
p11l_sim_start
port=${P11L_SIM_URL##*:}
sim --listen "127.0.0.1:$port" >"$T/busy.out" 2>"$T/busy.err"
rc=$?
check "a port in use: non-zero exit ($rc)" [ $rc -ne 0 ]
check "a port in use: the message names it" grep -q "cannot listen on 127.0.0.1:$port: " "$T/busy.err"
[ -s "$T/busy.out" ] && not_ok "a port in use: nothing on stdout" || ok "a port in use: nothing on stdout"

# As libyubihsm reads it: at most 256 bytes, no NUL, a line exactly
# "status=OK" with '\n' line ends.
py - "$P11L_SIM_URL" >"$T/status.out" 2>&1 <<'PY'
import sys, urllib.request
body = urllib.request.urlopen(sys.argv[1] + "/connector/status", timeout=30).read()
sys.stdout.write(body.decode())
ok = len(body) <= 256 and b"\0" not in body and b"\r" not in body
sys.exit(0 if ok and b"status=OK" in body.split(b"\n") else 1)
PY
check "/connector/status: a status=OK line, newline line ends, at most 256 bytes" [ $? -eq 0 ]
sed 's/^/# /' "$T/status.out"

py "$P11L_TEST_SRCDIR/yubihsm-sim-raw.py" "$P11L_SIM_URL" checks >"$T/raw.out" 2>&1
rc=$?
tap_lines "$T/raw.out"
check "the raw client's checks ran to the end" [ $rc -eq 0 ]

# --- yubihsm-shell (libyubihsm, its HTTP backend) ---
if ! command -v yubihsm-shell >/dev/null 2>&1; then
	skip "yubihsm-shell is not installed: its checks"
else
	diag "$(yubihsm-shell --version)"
	before=$(counts)
	ysh() { yubihsm-shell -C "$P11L_SIM_URL" -p password "$@"; }
	ysh -a get-device-info >"$T/ysh-info.out" 2>&1
	check "yubihsm-shell get-device-info" grep -q "Version number:.*2\.4\.0" "$T/ysh-info.out"
	ysh -a generate-asymmetric-key -i 0x10 -l ysh-rsa -c sign-pkcs -A rsa2048 >"$T/ysh-gen.out" 2>&1 &&
		ysh -a generate-asymmetric-key -i 0x11 -l ysh-ec -c sign-ecdsa -A ecp256 >>"$T/ysh-gen.out" 2>&1
	check "yubihsm-shell generate-asymmetric-key rsa2048 and ecp256" [ $? -eq 0 ]
	ysh -a list-objects >"$T/ysh-list.out" 2>&1
	check "yubihsm-shell list-objects shows both" \
		sh -c 'grep -q "0x0010.*rsa2048.*ysh-rsa" "$1" && grep -q "0x0011.*ecp256.*ysh-ec" "$1"' - "$T/ysh-list.out"
	echo "signed by yubihsm-shell through the simulator" >"$T/ysh.data"
	for k in rsa:0x10:sign-pkcs1v15:rsa-pkcs1-sha256 ec:0x11:sign-ecdsa:ecdsa-sha256; do
		name=${k%%:*} rest=${k#*:}
		id=${rest%%:*} rest=${rest#*:}
		ysh -a get-public-key -i "$id" --out "$T/ysh-$name.pub" >/dev/null 2>&1 &&
			ysh -a "${rest%%:*}" -i "$id" -A "${rest#*:}" --in "$T/ysh.data" \
				--outformat binary --out "$T/ysh-$name.sig" >/dev/null 2>&1
		check "yubihsm-shell get-public-key and ${rest%%:*} ($name)" [ $? -eq 0 ]
		openssl_verify "$T/ysh-$name.pub" "$T/ysh-$name.sig" "$T/ysh.data"
		check "openssl verifies yubihsm-shell's $name signature" grep -q "Verified OK" "$T/verify.out"
	done
	check "each yubihsm-shell session ended with an authenticated CloseSession, none open" \
		all_closed "$before"
fi

# --- python3-yubihsm (its own protocol code) ---
if ! py -c 'import yubihsm' 2>/dev/null; then
	skip "python3-yubihsm is not installed: its checks"
else
	diag "python-yubihsm $(py -c 'import yubihsm; print(yubihsm.__version__)')"
	before=$(counts)
	mkdir "$T/py"
	py "$P11L_TEST_SRCDIR/yubihsm-conform.py" "$P11L_SIM_URL" "$T/py" >"$T/py.out" 2>&1
	check "python3-yubihsm: session, generate RSA and EC, import EC, sign, list, delete, close" [ $? -eq 0 ]
	sed 's/^/# /' "$T/py.out"
	for name in py-rsa py-ec py-put; do
		openssl_verify "$T/py/$name.pub" "$T/py/$name.sig" "$T/py/data"
		check "openssl verifies python3-yubihsm's $name signature" grep -q "Verified OK" "$T/verify.out"
	done
	check "python3-yubihsm's session ended with an authenticated CloseSession, none open" \
		all_closed "$before"
fi

cp "$T/k1.pub" "$T/k1.before"
cp "$T/e1.pub" "$T/e1.before"
p11l_sim_seed_keys
check "p11l_sim_seed_keys through the running simulator: new keys k1 and e1" \
	sh -c '! cmp -s "$1/k1.pub" "$1/k1.before" && ! cmp -s "$1/e1.pub" "$1/e1.before"' - "$T"
echo "seeded again" >"$T/seed.data"
py - "$P11L_SIM_URL" "$T/seed.data" "$T/seed.sig" <<'PY'
import os, struct, sys, hashlib
sys.path.insert(0, os.environ["P11L_TEST_SRCDIR"])
from yubihsm_sim import client
conn = client.Connector(sys.argv[1])
s = client.open_session(conn)
data = open(sys.argv[2], "rb").read()
open(sys.argv[3], "wb").write(s.send(0x56, struct.pack("!H", 3) + hashlib.sha256(data).digest()))
s.close()
PY
openssl_verify "$T/e1.pub" "$T/seed.sig" "$T/seed.data"
check "the new e1.pub is the device's e1 (a SignEcdsa verifies with it)" grep -q "Verified OK" "$T/verify.out"

p11l_sim_stop
check "SIGTERM: the simulator exits 0" [ $? -eq 0 ]
py - "$port" <<'PY'
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5).close()
except ConnectionRefusedError:
    sys.exit(0)
sys.exit(1)
PY
check "SIGTERM: the port is closed after" [ $? -eq 0 ]

p11l_sim_start --idle-timeout 1
py "$P11L_TEST_SRCDIR/yubihsm-sim-raw.py" "$P11L_SIM_URL" expiry >"$T/expiry.out" 2>&1
rc=$?
tap_lines "$T/expiry.out"
check "the expiry checks ran to the end" [ $rc -eq 0 ]
p11l_sim_stop
check "SIGTERM again: exit 0" [ $? -eq 0 ]
done_testing
