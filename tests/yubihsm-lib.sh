# The YubiHSM 2 simulator (tests/yubihsm-sim) as a test fixture.  Sourced
# after tap-lib.sh and p11l_tmpdir, never run.
#
#   p11l_sim_missing     prints what the simulator needs and is not there
#                        (python3, python3-cryptography) and returns 0;
#                        returns 1 if nothing is missing.
#   p11l_sim_start [OPTION...]
#                        starts the simulator in the background on
#                        127.0.0.1, a port the kernel picks, its state in
#                        $P11L_TMP/yubihsm-sim.json, its stderr in
#                        $P11L_TMP/yubihsm-sim.log, with the simulator's
#                        OPTIONs (--sessions N, --idle-timeout SECONDS);
#                        bails out if it is not listening within 20 s.
#                        Exports P11L_SIM_URL (http://127.0.0.1:PORT),
#                        P11L_SIM_PID, and YUBIHSM_PKCS11_CONF naming
#                        $P11L_TMP/yubihsm_pkcs11.conf ("connector =
#                        $P11L_SIM_URL").  The simulator is stopped when the
#                        test exits, then the EXIT action of p11l_tmpdir
#                        runs (or $P11L_SIM_EXIT, if the test set its own
#                        EXIT trap: set it to that trap's action); INT,
#                        TERM and HUP exit through it.  Again after
#                        p11l_sim_stop: the same state, a new port.  The
#                        simulator is a child of the test's shell: wait
#                        for the test's own jobs by PID, as a bare "wait"
#                        would wait for the simulator too.
#   p11l_sim_stop        SIGTERM, waits; returns the simulator's exit status
#                        (0 for a clean stop).
#   p11l_sim_stat KEY    prints the number /sim/status gives for KEY
#                        (sessions_open, sessions_created, sessions_closed,
#                        sessions_expired, sessions_refused, auth_failures,
#                        mac_failures...); returns 1 if there is none.
#   p11l_sim_seed_keys   with the simulator running or stopped: key 0x0002
#                        "k1", RSA-2048, sign-pkcs and sign-pss, and 0x0003
#                        "e1", EC P-256, sign-ecdsa (new keys, replacing
#                        those IDs); their public keys as PEM in
#                        $P11L_TMP/k1.pub and $P11L_TMP/e1.pub.
#   P11L_YUBIHSM_MODULE  yubihsm_pkcs11.so (default: Debian's path);
#   P11L_YUBIHSM_PIN     the factory authentication key's PIN,
#                        0001password.
#   P11L_PYTHON          the python3 that runs the simulator: Debian's
#                        /usr/bin/python3 (python3-cryptography), else the
#                        first python3 on PATH.

P11L_YUBIHSM_MODULE=${P11L_YUBIHSM_MODULE:-/usr/lib/$p11l_multiarch/pkcs11/yubihsm_pkcs11.so}
P11L_YUBIHSM_PIN=0001password
if [ -z "${P11L_PYTHON:-}" ]; then
	P11L_PYTHON=/usr/bin/python3
	[ -x "$P11L_PYTHON" ] || P11L_PYTHON=$(command -v python3 || echo python3)
fi
P11L_SIM=$P11L_TEST_SRCDIR/yubihsm-sim
P11L_SIM_PID=
# The simulator's modules live in the source tree, which may be read-only.
PYTHONDONTWRITEBYTECODE=1
export PYTHONDONTWRITEBYTECODE

p11l_sim_missing() {
	if ! command -v "$P11L_PYTHON" >/dev/null 2>&1; then
		echo "python3"
	elif ! "$P11L_PYTHON" -c 'import cryptography.hazmat.primitives.cmac' 2>/dev/null; then
		echo "python3-cryptography"
	else
		return 1
	fi
	return 0
}

# Stops the simulator if it runs (SIGKILL if it ignores SIGTERM for 10 s).
p11l_sim_kill() {
	[ -n "$P11L_SIM_PID" ] || return 0
	kill -TERM "$P11L_SIM_PID" 2>/dev/null
	p11l_sim_i=0
	while kill -0 "$P11L_SIM_PID" 2>/dev/null && [ $p11l_sim_i -lt 100 ]; do
		sleep 0.1
		p11l_sim_i=$((p11l_sim_i + 1))
	done
	kill -KILL "$P11L_SIM_PID" 2>/dev/null
	wait "$P11L_SIM_PID" 2>/dev/null
	P11L_SIM_PID=
}

p11l_sim_start() {
	[ -z "$P11L_SIM_PID" ] || bail_out "p11l_sim_start: the simulator already runs"
	p11l_sim_ready=$P11L_TMP/yubihsm-sim.ready
	rm -f "$p11l_sim_ready"
	# dash cannot read the current EXIT trap back, so it is rebuilt.
	trap 'p11l_sim_kill; '"${P11L_SIM_EXIT:-rm -rf \"\$P11L_TMP\"}" EXIT
	trap 'exit 1' INT TERM HUP
	"$P11L_PYTHON" "$P11L_SIM" --listen 127.0.0.1:0 --state "$P11L_TMP/yubihsm-sim.json" \
		--ready-file "$p11l_sim_ready" "$@" 2>>"$P11L_TMP/yubihsm-sim.log" &
	P11L_SIM_PID=$!
	p11l_sim_i=0
	while [ ! -s "$p11l_sim_ready" ]; do
		if ! kill -0 "$P11L_SIM_PID" 2>/dev/null || [ $p11l_sim_i -ge 200 ]; then
			sed 's/^/# /' "$P11L_TMP/yubihsm-sim.log"
			bail_out "the YubiHSM simulator did not start"
		fi
		sleep 0.1
		p11l_sim_i=$((p11l_sim_i + 1))
	done
	P11L_SIM_URL=http://$(cat "$p11l_sim_ready")
	echo "connector = $P11L_SIM_URL" >"$P11L_TMP/yubihsm_pkcs11.conf"
	YUBIHSM_PKCS11_CONF=$P11L_TMP/yubihsm_pkcs11.conf
	export P11L_SIM_URL P11L_SIM_PID YUBIHSM_PKCS11_CONF
}

p11l_sim_stop() {
	[ -n "$P11L_SIM_PID" ] || return 0
	kill -TERM "$P11L_SIM_PID"
	wait "$P11L_SIM_PID"
	p11l_sim_rc=$?
	P11L_SIM_PID=
	return $p11l_sim_rc
}

p11l_sim_stat() {
	"$P11L_PYTHON" - "$P11L_SIM_URL" "$1" <<'PY'
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1] + "/sim/status", timeout=30) as r:
    stats = dict(line.split("=", 1) for line in r.read().decode().splitlines())
if sys.argv[2] not in stats:
    sys.exit(1)
print(stats[sys.argv[2]])
PY
}

p11l_sim_seed_keys() {
	if [ -n "$P11L_SIM_PID" ]; then
		set -- --connector "$P11L_SIM_URL"
	else
		set -- --state "$P11L_TMP/yubihsm-sim.json"
	fi
	"$P11L_PYTHON" "$P11L_SIM" "$@" --generate-key rsa2048 --id 2 --label k1 \
		--capabilities sign-pkcs,sign-pss --public-key-out "$P11L_TMP/k1.pub" &&
		"$P11L_PYTHON" "$P11L_SIM" "$@" --generate-key ecp256 --id 3 --label e1 \
			--capabilities sign-ecdsa --public-key-out "$P11L_TMP/e1.pub" ||
		bail_out "cannot seed the YubiHSM simulator's keys"
}
