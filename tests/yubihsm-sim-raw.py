#!/usr/bin/python3
"""What the simulator's device side does with what no real client sends:
a wrong MAC, a wrong password, a 17th session, an expired session; and
the HTTP that libcurl may send (Expect: 100-continue, keep-alive).

  yubihsm-sim-raw.py URL checks     (a simulator with 16 sessions, keys
                                     k1 0x0002 and e1 0x0003 seeded)
  yubihsm-sim-raw.py URL expiry     (a simulator with --idle-timeout 1)

One line per check, "PASS what" or "FAIL what: why"; tests/yubihsm-sim.sh
turns them into TAP lines.  Uses our own client (tests/yubihsm_sim), not
libyubihsm or python-yubihsm."""

import hashlib
import os
import socket
import struct
import sys
import time
import urllib.parse

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cryptography.exceptions import InvalidSignature  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, padding  # noqa: E402

from yubihsm_sim import client, keys, scp  # noqa: E402

ECHO, GET_OBJECT_INFO, SIGN_PKCS1, SIGN_ECDSA, LIST_OBJECTS = 0x01, 0x4E, 0x47, 0x56, 0x48
failed = False


def report(what, good, why=""):
    global failed
    failed |= not good
    print("PASS %s" % what if good else "FAIL %s: %s" % (what, why))


def error_code(f, *args):
    """The device error f raised, or None."""
    try:
        f(*args)
    except client.DeviceError as e:
        return e.code
    return None


def http_checks(url):
    """On one connection, as libcurl may send them: a POST with Expect:
    100-continue, then a GET kept alive; a frame of a bad size."""
    u = urllib.parse.urlsplit(url)
    sock = socket.create_connection((u.hostname, u.port), timeout=30)
    f = sock.makefile("rb")

    def response():
        status = f.readline()
        length = 0
        while True:
            line = f.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return status, f.read(length)

    frame = scp.frame(ECHO, b"ping")
    sock.sendall(b"POST /connector/api HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                 b"Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n"
                 % len(frame))
    cont = f.readline()
    f.readline()
    report("Expect: 100-continue gets HTTP/1.1 100 Continue", cont.startswith(b"HTTP/1.1 100"),
           repr(cont))
    sock.sendall(frame)
    status, body = response()
    report("then the body is read: Echo answered 81 0004 ping",
           status.startswith(b"HTTP/1.1 200") and body == scp.frame(0x81, b"ping"), repr(body))
    sock.sendall(b"GET /connector/status HTTP/1.1\r\nHost: x\r\n\r\n")
    status, body = response()
    report("the connection is kept alive for the next request",
           status.startswith(b"HTTP/1.1 200") and b"status=OK\n" in body, repr(status))
    sock.sendall(b"POST /connector/api HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n\x01\x00")
    status, body = response()
    report("a frame shorter than 3 bytes gets HTTP 400, as the connector answers",
           status.startswith(b"HTTP/1.1 400"), repr(status))
    sock.close()


def checks(conn, url):
    http_checks(url)
    st = conn.status
    base = st()
    s = client.open_session(conn)
    report("a session opens (CreateSession, AuthenticateSession)", st()["sessions_open"] == "1")
    report("Echo in the session returns its data", s.send(ECHO, b"ping") == b"ping")
    info = s.send(0x06)
    report("GetDeviceInfo in the session reports firmware 2.4.0",
           info[:3] == bytes([2, 4, 0]), info[:3].hex())

    # A wrong MAC: refused in plaintext, and nothing moves on.
    msg, chain = s.wrap(ECHO, b"once")
    forged = msg[:-1] + bytes([msg[-1] ^ 1])
    resp = conn.transceive(forged)
    report("a SessionMessage with a wrong MAC gets the error frame 7f 00 01 04",
           resp == bytes.fromhex("7f000104"), resp.hex())
    report("the wrong MAC is counted (mac_failures)",
           int(st()["mac_failures"]) == int(base["mac_failures"]) + 1)
    report("the session did not advance: the right message still works",
           s.exchange(msg, chain) == scp.frame(0x81, b"once"))
    close, chain = s.wrap(0x40)
    resp = conn.transceive(close[:-1] + bytes([close[-1] ^ 0x80]))
    now = st()
    report("a CloseSession with a wrong MAC is refused and closes nothing",
           resp == bytes.fromhex("7f000104") and now["sessions_open"] == "1"
           and now["sessions_closed"] == base["sessions_closed"], resp.hex())

    # Inner errors travel encrypted, in a good 0x85 response.
    code = error_code(s.send, GET_OBJECT_INFO, struct.pack("!HB", 0x7777, 3))
    report("GetObjectInfo of a missing object: inner error 0x0b", code == 0x0B, str(code))
    code = error_code(s.send, SIGN_ECDSA, struct.pack("!H", 2) + bytes(32))
    report("SignEcdsa with the RSA key (no sign-ecdsa capability): inner error 0x09",
           code == 0x09, str(code))
    listed = s.send(LIST_OBJECTS, b"\x02\x03" + b"\x04" + struct.pack("!Q", 1 << 7))
    ids = [struct.unpack("!H", listed[i:i + 2])[0] for i in range(0, len(listed), 4)]
    report("ListObjects by type and capability (any overlap) finds e1, not k1",
           3 in ids and 2 not in ids, listed.hex())
    # libp11's CKM_RSA_PKCS path sends a DigestInfo, yubihsm-shell a bare hash.
    raw = s.send(0x54, struct.pack("!H", 2))
    public = keys.public_from_raw(raw[0], raw[1:])
    digest = hashlib.sha256(b"data").digest()
    for what, data in (("a bare SHA-256 hash", digest),
                       ("a SHA-256 DigestInfo", bytes.fromhex(keys.DIGEST_INFO[32]) + digest)):
        sig = s.send(SIGN_PKCS1, struct.pack("!H", 2) + data)
        try:
            public.verify(sig, b"data", padding.PKCS1v15(), hashes.SHA256())
            good = True
        except InvalidSignature:
            good = False
        report("SignPkcs1 of %s: a PKCS#1 v1.5 SHA-256 signature" % what, good)

    raw = s.send(0x54, struct.pack("!H", 3))
    public = keys.public_from_raw(raw[0], raw[1:])
    for name, alg in (("SHA-256", hashes.SHA256), ("SHA-1", hashes.SHA1)):
        digest = hashlib.new(alg.name, b"data").digest()
        sig = s.send(SIGN_ECDSA, struct.pack("!H", 3) + digest)
        try:
            public.verify(sig, b"data", ec.ECDSA(alg()))
            good = True
        except InvalidSignature:
            good = False
        report("SignEcdsa (P-256) of a bare %s hash: a DER signature that verifies" % name, good)

    s.close()
    now = st()
    report("an authenticated CloseSession is counted (sessions_closed + 1, none open)",
           now["sessions_open"] == "0"
           and int(now["sessions_closed"]) == int(base["sessions_closed"]) + 1)
    resp = conn.transceive(close)
    report("the closed session's sid is refused with 7f 00 01 03",
           resp == bytes.fromhex("7f000103"), resp.hex())

    # A wrong password: the device frees the session at AuthenticateSession.
    bad = client.Session(conn, 1, "not-the-password").create(check=False)
    code = error_code(bad.authenticate)
    now = st()
    report("AuthenticateSession with a wrong password: 0x04, the session freed",
           code == 0x04 and now["sessions_open"] == "0", "%s, %s open" % (code, now["sessions_open"]))
    code = error_code(conn.command, 0x03, struct.pack("!H", 0x4242) + bytes(8))
    report("CreateSession with an unknown key: 0x0b", code == 0x0B, str(code))

    # The cap: 16, then the device's own error for the 17th.
    sessions = [client.open_session(conn) for _ in range(16)]
    report("16 sessions at once", st()["sessions_open"] == "16")
    refused = int(st()["sessions_refused"])
    resp = conn.transceive(scp.frame(0x03, struct.pack("!H", 1) + os.urandom(8)))
    report("the 17th CreateSession gets 7f 00 01 05", resp == bytes.fromhex("7f000105"), resp.hex())
    report("and is counted (sessions_refused + 1)", int(st()["sessions_refused"]) == refused + 1)
    closed = int(st()["sessions_closed"])
    for x in sessions:
        x.close()
    now = st()
    report("the 16 close (sessions_closed + 16, none open)",
           now["sessions_open"] == "0" and int(now["sessions_closed"]) == closed + 16)


def expiry(conn, url):
    s = client.open_session(conn)
    # Past the simulator's --idle-timeout 1: the session must be gone.
    time.sleep(2)
    code = error_code(s.send, ECHO, b"late")
    now = conn.status()
    report("a session idle past --idle-timeout gets 7f 00 01 03", code == 0x03, str(code))
    report("and is counted as expired, not closed",
           now["sessions_expired"] == "1" and now["sessions_open"] == "0"
           and now["sessions_closed"] == "0", str(now))


def main():
    conn = client.Connector(sys.argv[1])
    {"checks": checks, "expiry": expiry}[sys.argv[2]](conn, sys.argv[1])
    conn.close()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
