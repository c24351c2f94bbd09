"""The card side: objects, sessions and commands of a simulated YubiHSM 2.

Not thread-safe: the HTTP front end serialises every request through one
lock, as yubihsm-connector does in front of the real device.

What the public sources leave open (PROTOCOL.md section 9), decided here:
- CreateSession with an unknown authentication key: OBJECT_NOT_FOUND.
- AuthenticateSession with a wrong cryptogram or MAC: AUTHENTICATION_FAILED,
  and the session is freed.
- SessionMessage with a wrong MAC: AUTHENTICATION_FAILED in plaintext, and
  the session is left as it was (chain, counter, idle time), so that a
  stale or forged message can neither advance nor end a session.
- Session ids: the lowest free one.
- SignPkcs1 and SignEcdsa inputs: see keys.py.
- No asymmetric (65-byte challenge) sessions, no opaque objects."""

import json
import os
import struct
import time

from . import keys, scp

# Device error codes (PROTOCOL.md section 2).
INVALID_COMMAND, INVALID_DATA, INVALID_SESSION, AUTHENTICATION_FAILED = 0x01, 0x02, 0x03, 0x04
SESSIONS_FULL, WRONG_LENGTH, INSUFFICIENT_PERMISSIONS = 0x05, 0x08, 0x09
OBJECT_NOT_FOUND, OBJECT_EXISTS = 0x0B, 0x11

OPAQUE, AUTHENTICATION_KEY, ASYMMETRIC_KEY = 0x01, 0x02, 0x03
LABEL_LENGTH = 40
GENERATED, IMPORTED = 0x01, 0x02

# Capability bits (yubihsm.h), by name for the command line.
CAPABILITIES = {
    "get-opaque": 0, "put-opaque": 1, "put-authentication-key": 2, "put-asymmetric": 3,
    "generate-asymmetric-key": 4, "sign-pkcs": 5, "sign-pss": 6, "sign-ecdsa": 7,
    "exportable-under-wrap": 16, "get-pseudo-random": 19, "delete-asymmetric-key": 41,
}
ALL_CAPABILITIES = (1 << 63) - 1
VERSION = (2, 4, 0)
SERIAL = 12345678
# What GetDeviceInfo lists: what the simulator implements (RSA PKCS#1 and
# PSS, SHA-1 to SHA-512, RSA-2048/3072/4096, P-256/384/521, opaque, the
# MGF1 hashes, the authentication key, ECDSA).
ALGORITHMS = bytes(list(range(1, 15)) + [23, 30, 31, 32, 33, 34, 35, 38, 43, 44, 45])
PART_NUMBER = b"YubiHSM 2 simulator"


def cap(name):
    return 1 << CAPABILITIES[name]


Refused = keys.Refused


def error(code):
    return scp.frame(0x7F, bytes([code]))


class Object:
    def __init__(self, obj_id, obj_type, algorithm, label, domains, capabilities,
                 delegated=0, origin=GENERATED, sequence=0, key=None, auth_keys=None):
        self.id, self.type, self.algorithm = obj_id, obj_type, algorithm
        self.label = label[:LABEL_LENGTH]
        self.domains, self.capabilities, self.delegated = domains, capabilities, delegated
        self.origin, self.sequence = origin, sequence
        self.key = key                  # a cryptography private key
        self.auth_keys = auth_keys      # (K-ENC, K-MAC) of an authentication key

    def info(self):
        length = keys.stored_length(self.key) if self.key else 32
        return struct.pack("!QHHHBBBB40sQ", self.capabilities, self.id, length, self.domains,
                           self.type, self.algorithm, self.sequence, self.origin,
                           self.label, self.delegated)

    def to_json(self):
        d = {k: getattr(self, k) for k in ("id", "type", "algorithm", "domains",
                                           "capabilities", "delegated", "origin", "sequence")}
        d["label"] = self.label.hex()
        if self.key:
            d["key"] = keys.to_pem(self.key)
        if self.auth_keys:
            d["auth_keys"] = [k.hex() for k in self.auth_keys]
        return d

    @classmethod
    def from_json(cls, d):
        return cls(d["id"], d["type"], d["algorithm"], bytes.fromhex(d["label"]), d["domains"],
                   d["capabilities"], d["delegated"], d["origin"], d["sequence"],
                   keys.from_pem(d["key"]) if "key" in d else None,
                   tuple(bytes.fromhex(k) for k in d["auth_keys"]) if "auth_keys" in d else None)


def factory_auth_key():
    return Object(1, AUTHENTICATION_KEY, 38, b"DEFAULT AUTHKEY CHANGE THIS ASAP", 0xFFFF,
                  ALL_CAPABILITIES, ALL_CAPABILITIES, IMPORTED,
                  auth_keys=scp.password_to_keys("password"))


class Session:
    def __init__(self, sid, auth_key, session_keys, now):
        self.sid, self.auth_key, self.keys = sid, auth_key, session_keys
        self.authenticated = False
        self.chain, self.counter = None, 0
        self.last_used = now


class Device:
    """dispatch(frame) -> response frame: one connector API request."""

    def __init__(self, state_file=None, max_sessions=16, idle_timeout=30.0,
                 clock=time.monotonic, random=os.urandom):
        self.state_file = state_file
        self.max_sessions, self.idle_timeout = max_sessions, idle_timeout
        self.clock, self.random = clock, random
        self.sessions = {}
        self.stats = dict.fromkeys(
            ("sessions_created", "sessions_authenticated", "sessions_closed", "sessions_expired",
             "sessions_refused", "auth_failures", "mac_failures", "requests"), 0)
        self.objects = {}
        self.load()

    # --- state ---
    def load(self):
        if self.state_file and os.path.exists(self.state_file):
            with open(self.state_file) as f:
                for d in json.load(f)["objects"]:
                    o = Object.from_json(d)
                    self.objects[o.type, o.id] = o
        else:
            self.objects[AUTHENTICATION_KEY, 1] = factory_auth_key()

    def save(self):
        if not self.state_file:
            return
        tmp = "%s.tmp%d" % (self.state_file, os.getpid())
        with open(tmp, "w") as f:
            json.dump({"objects": [o.to_json() for o in self.objects.values()]}, f, indent=1)
        os.replace(tmp, self.state_file)

    def status(self):
        self.purge()
        lines = ["sessions_open=%d" % len(self.sessions)]
        lines += ["%s=%d" % kv for kv in self.stats.items()]
        return "".join(line + "\n" for line in lines)

    # --- sessions ---
    def purge(self):
        now = self.clock()
        for sid, s in list(self.sessions.items()):
            if now - s.last_used >= self.idle_timeout:
                del self.sessions[sid]
                self.stats["sessions_expired"] += 1

    def dispatch(self, msg):
        self.stats["requests"] += 1
        self.purge()
        parsed = scp.parse_frame(msg)
        if parsed is None:
            return error(WRONG_LENGTH)
        cmd, data = parsed
        handler = PLAIN.get(cmd)
        if handler is None:
            return error(INVALID_COMMAND)
        try:
            return handler(self, data)
        except Refused as e:
            return error(e.code)

    def create_session(self, data):
        if len(data) != 10:
            raise Refused(WRONG_LENGTH)   # no asymmetric (65-byte) sessions
        key_id, host = struct.unpack("!H", data[:2])[0], data[2:]
        auth = self.objects.get((AUTHENTICATION_KEY, key_id))
        if auth is None:
            raise Refused(OBJECT_NOT_FOUND)
        free = [sid for sid in range(self.max_sessions) if sid not in self.sessions]
        if not free:
            self.stats["sessions_refused"] += 1
            raise Refused(SESSIONS_FULL)
        card = self.random(8)
        s = Session(free[0], auth, scp.Keys(*auth.auth_keys, host, card), self.clock())
        self.sessions[s.sid] = s
        self.stats["sessions_created"] += 1
        return scp.frame(0x83, bytes([s.sid]) + card + s.keys.card_cryptogram)

    def authenticate_session(self, data):
        if len(data) != 17:
            raise Refused(WRONG_LENGTH)
        s = self.sessions.get(data[0])
        if s is None or s.authenticated:
            raise Refused(INVALID_SESSION)
        full = scp.verify_mac(s.keys.mac, bytes(16), 0x04, data[:9], data[9:])
        if full is None or data[1:9] != s.keys.host_cryptogram:
            # The session is freed: the client cannot retry it.
            del self.sessions[s.sid]
            self.stats["auth_failures"] += 1
            raise Refused(AUTHENTICATION_FAILED)
        s.authenticated, s.chain, s.counter, s.last_used = True, full, 1, self.clock()
        self.stats["sessions_authenticated"] += 1
        return scp.frame(0x84)

    def session_message(self, data):
        s = self.sessions.get(data[0]) if data else None
        if s is None or not s.authenticated:
            raise Refused(INVALID_SESSION)
        body, mac8 = data[:-8], data[-8:]
        if len(data) < 25 or (len(body) - 1) % 16:
            raise Refused(WRONG_LENGTH)
        full = scp.verify_mac(s.keys.mac, s.chain, 0x05, body, mac8)
        if full is None:
            # Refused and the session left exactly as it was (chain,
            # counter, idle time): a forged or stale message cannot advance
            # or end someone else's session.
            self.stats["mac_failures"] += 1
            raise Refused(AUTHENTICATION_FAILED)
        s.chain, s.last_used = full, self.clock()
        ivec = scp.iv(s.keys.enc, s.counter)
        inner = scp.unpad(scp.cbc(s.keys.enc, ivec, body[1:], False))
        parsed = scp.parse_frame(inner) if inner is not None else None
        if parsed is None:
            response = error(INVALID_DATA)
        else:
            response = self.inner(s, *parsed)
        out = bytes([s.sid]) + scp.cbc(s.keys.enc, ivec, scp.pad(response), True)
        _, msg = scp.mac_message(s.keys.rmac, s.chain, 0x85, out)
        s.counter += 1
        if parsed is not None and parsed[0] == 0x40 and response[0] == 0xC0:
            del self.sessions[s.sid]
            self.stats["sessions_closed"] += 1
        return msg

    def inner(self, s, cmd, data):
        handler = INNER.get(cmd)
        if handler is None:
            return error(INVALID_COMMAND)
        try:
            return scp.frame(cmd | 0x80, handler(self, s, data))
        except Refused as e:
            return error(e.code)
        except (struct.error, IndexError):
            return error(INVALID_DATA)

    # --- plain commands ---
    def device_info(self, data):
        if data == b"\x01":
            return PART_NUMBER
        if data:
            raise Refused(INVALID_DATA)
        return struct.pack("!BBBIBB", *VERSION, SERIAL, 62, 0) + ALGORITHMS

    # --- inner commands ---
    def visible(self, s, obj_type, obj_id):
        o = self.objects.get((obj_type, obj_id))
        if o is None or not o.domains & s.auth_key.domains:
            raise Refused(OBJECT_NOT_FOUND)
        return o

    def need(self, s, capability):
        if not s.auth_key.capabilities & capability:
            raise Refused(INSUFFICIENT_PERMISSIONS)

    def list_objects(self, s, data):
        # The filters: tag, then a value of the tag's size (PROTOCOL.md 4).
        sizes = {1: 2, 2: 1, 3: 2, 4: 8, 5: 1, 6: LABEL_LENGTH}
        want = {}
        i = 0
        while i < len(data):
            tag = data[i]
            if tag not in sizes or i + 1 + sizes[tag] > len(data):
                raise Refused(INVALID_DATA)
            value = data[i + 1:i + 1 + sizes[tag]]
            want[tag] = value.rstrip(b"\0") if tag == 6 else int.from_bytes(value, "big")
            i += 1 + sizes[tag]
        out = b""
        for (t, oid), o in sorted(self.objects.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            if not o.domains & s.auth_key.domains:
                continue
            if 1 in want and oid != want[1] or 2 in want and t != want[2]:
                continue
            if 5 in want and o.algorithm != want[5] or 6 in want and o.label != want[6]:
                continue
            # Domains and capabilities: any overlap, as python-yubihsm documents.
            if 3 in want and not o.domains & want[3] or 4 in want and not o.capabilities & want[4]:
                continue
            out += struct.pack("!HBB", oid, t, o.sequence)
        return out

    def object_info(self, s, data):
        oid, t = struct.unpack("!HB", data)
        return self.visible(s, t & 0x7F, oid).info()

    def public_key(self, s, data):
        oid = struct.unpack("!H", data[:2])[0]
        t = data[2] if len(data) > 2 else ASYMMETRIC_KEY
        o = self.visible(s, t, oid)
        if t != ASYMMETRIC_KEY:
            raise Refused(INVALID_DATA)
        return bytes([o.algorithm]) + keys.public_raw(o.key)

    def signing_key(self, s, data, capability):
        o = self.visible(s, ASYMMETRIC_KEY, struct.unpack("!H", data[:2])[0])
        if not o.capabilities & capability:
            raise Refused(INSUFFICIENT_PERMISSIONS)
        return o.key

    def sign_pkcs1(self, s, data):
        return keys.sign_pkcs1(self.signing_key(s, data, cap("sign-pkcs")), data[2:])

    def sign_pss(self, s, data):
        key = self.signing_key(s, data, cap("sign-pss"))
        mgf1, salt_len = struct.unpack("!BH", data[2:5])
        return keys.sign_pss(key, mgf1, salt_len, data[5:])

    def sign_ecdsa(self, s, data):
        return keys.sign_ecdsa(self.signing_key(s, data, cap("sign-ecdsa")), data[2:])

    def new_key(self, s, data, capability, make, origin):
        oid, label, domains, caps, algorithm = struct.unpack("!H40sHQB", data[:53])
        self.need(s, capability)
        if caps & ~s.auth_key.delegated or domains & ~s.auth_key.domains or not domains:
            raise Refused(INSUFFICIENT_PERMISSIONS)
        if oid == 0:
            oid = next(i for i in range(1, 0x10000) if (ASYMMETRIC_KEY, i) not in self.objects)
        elif (ASYMMETRIC_KEY, oid) in self.objects:
            raise Refused(OBJECT_EXISTS)
        key = make(algorithm, data[53:])
        self.objects[ASYMMETRIC_KEY, oid] = Object(oid, ASYMMETRIC_KEY, algorithm,
                                                   label.rstrip(b"\0"), domains, caps,
                                                   origin=origin, key=key)
        self.save()
        return struct.pack("!H", oid)

    def generate_key(self, s, data):
        def make(algorithm, rest):
            if rest:
                raise Refused(WRONG_LENGTH)
            return keys.generate(algorithm)
        return self.new_key(s, data, cap("generate-asymmetric-key"), make, GENERATED)

    def put_key(self, s, data):
        return self.new_key(s, data, cap("put-asymmetric"), keys.import_raw, IMPORTED)

    def delete_object(self, s, data):
        oid, t = struct.unpack("!HB", data)
        self.visible(s, t, oid)
        if t != ASYMMETRIC_KEY:
            raise Refused(INSUFFICIENT_PERMISSIONS)   # the simulator deletes keys only
        self.need(s, cap("delete-asymmetric-key"))
        del self.objects[t, oid]
        self.save()
        return b""

    def pseudo_random(self, s, data):
        (n,) = struct.unpack("!H", data)
        self.need(s, cap("get-pseudo-random"))
        if n > 2028:
            raise Refused(WRONG_LENGTH)
        return self.random(n)

    def storage_info(self, s, data):
        used = len(self.objects)
        return struct.pack("!HHHHH", 256, 256 - used, 1024, 1024 - 3 * used, 126)

    def get_opaque(self, s, data):
        self.visible(s, OPAQUE, struct.unpack("!H", data)[0])
        raise Refused(OBJECT_NOT_FOUND)   # opaque objects are never stored


PLAIN = {
    0x01: lambda d, data: scp.frame(0x81, data),
    0x03: Device.create_session,
    0x04: Device.authenticate_session,
    0x05: Device.session_message,
    0x06: lambda d, data: scp.frame(0x86, d.device_info(data)),
}
INNER = {
    0x01: lambda d, s, data: data,
    0x06: lambda d, s, data: d.device_info(data),
    0x40: lambda d, s, data: b"",
    0x41: Device.storage_info,
    0x43: Device.get_opaque,
    0x45: Device.put_key,
    0x46: Device.generate_key,
    0x47: Device.sign_pkcs1,
    0x48: Device.list_objects,
    0x4E: Device.object_info,
    0x51: Device.pseudo_random,
    0x54: Device.public_key,
    0x55: Device.sign_pss,
    0x56: Device.sign_ecdsa,
    0x58: Device.delete_object,
}
