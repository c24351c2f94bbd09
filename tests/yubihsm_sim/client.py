"""A minimal YubiHSM 2 client of our own (host side of the secure channel),
independent of libyubihsm and python-yubihsm: the simulator's tests use it
to do what those clients never do (a wrong MAC, a chosen challenge)."""

import http.client
import os
import struct
import urllib.parse

from . import scp

SESSION_MESSAGE = 0x05
ERROR = 0x7F


class DeviceError(Exception):
    def __init__(self, code):
        super().__init__("device error 0x%02x" % code)
        self.code = code


class Connector:
    """One keep-alive HTTP connection to a connector URL."""

    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)

    def request(self, method, path, body=None):
        headers = {"Content-Type": "application/octet-stream"} if body else {}
        self.conn.request(method, path, body=body, headers=headers)
        r = self.conn.getresponse()
        data = r.read()
        if r.status != 200:
            raise OSError("HTTP %d from %s" % (r.status, path))
        return data

    def transceive(self, msg):
        return self.request("POST", "/connector/api", msg)

    def command(self, cmd, data=b""):
        """The data of the response to a plain command; DeviceError on an
        error frame."""
        return unwrap(cmd, self.transceive(scp.frame(cmd, data)))

    def status(self):
        text = self.request("GET", "/sim/status").decode()
        return dict(line.split("=", 1) for line in text.splitlines())

    def close(self):
        self.conn.close()


def unwrap(cmd, resp):
    parsed = scp.parse_frame(resp)
    if parsed is None:
        raise ValueError("malformed response frame %s" % resp.hex())
    rcmd, data = parsed
    if rcmd == ERROR and len(data) == 1:
        raise DeviceError(data[0])
    if rcmd != cmd | 0x80:
        raise ValueError("response 0x%02x to command 0x%02x" % (rcmd, cmd))
    return data


class Session:
    """An authenticated session: create(), authenticate(), then send() inner
    commands.  create(check=False) skips the card cryptogram check (which
    libyubihsm makes only after AuthenticateSession), to show what the
    device does with a wrong password."""

    def __init__(self, connector, key_id=1, password="password"):
        self.connector = connector
        self.key_id = key_id
        self.k_enc, self.k_mac = scp.password_to_keys(password)

    def create(self, host_challenge=None, check=True):
        host = host_challenge or os.urandom(8)
        resp = self.connector.command(0x03, struct.pack("!H", self.key_id) + host)
        if len(resp) != 17:
            raise ValueError("CreateSession answered %d bytes" % len(resp))
        self.sid = resp[0]
        self.keys = scp.Keys(self.k_enc, self.k_mac, host, resp[1:9])
        if check and resp[9:17] != self.keys.card_cryptogram:
            raise ValueError("wrong card cryptogram")
        return self

    def authenticate(self):
        body = bytes([self.sid]) + self.keys.host_cryptogram
        full, msg = scp.mac_message(self.keys.mac, bytes(16), 0x04, body)
        if self.connector.command(0x04, msg[3:]) != b"":
            raise ValueError("AuthenticateSession answered data")
        self.chain, self.counter = full, 1
        return self

    def wrap(self, cmd, data=b""):
        """(outer message, its chain) of an inner command, not yet sent."""
        ivec = scp.iv(self.keys.enc, self.counter)
        body = bytes([self.sid]) + scp.cbc(self.keys.enc, ivec, scp.pad(scp.frame(cmd, data)), True)
        chain, msg = scp.mac_message(self.keys.mac, self.chain, SESSION_MESSAGE, body)
        return msg, chain

    def exchange(self, msg, chain):
        """Sends a wrapped message; the inner response frame."""
        resp = self.connector.transceive(msg)
        parsed = scp.parse_frame(resp)
        if parsed is None:
            raise ValueError("malformed response frame")
        rcmd, data = parsed
        if rcmd == ERROR and len(data) == 1:
            raise DeviceError(data[0])
        if rcmd != SESSION_MESSAGE | 0x80 or data[0] != self.sid or len(data) < 25:
            raise ValueError("bad SessionMessage response %s" % resp.hex())
        body, rmac = data[:-8], data[-8:]
        if scp.verify_mac(self.keys.rmac, chain, rcmd, body, rmac) is None:
            raise ValueError("wrong response MAC")
        ivec = scp.iv(self.keys.enc, self.counter)
        inner = scp.unpad(scp.cbc(self.keys.enc, ivec, body[1:], False))
        self.chain, self.counter = chain, self.counter + 1
        if inner is None:
            raise ValueError("bad response padding")
        return inner

    def send(self, cmd, data=b""):
        return unwrap(cmd, self.exchange(*self.wrap(cmd, data)))

    def close(self):
        if self.send(0x40) != b"":
            raise ValueError("CloseSession answered data")


def open_session(connector, key_id=1, password="password"):
    return Session(connector, key_id, password).create().authenticate()
