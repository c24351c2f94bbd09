"""The asymmetric keys of the simulated device: generation, import, the
public key as GetPublicKey sends it, signing, and their state-file form."""

import os

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

# Device algorithm numbers (python-yubihsm defs.ALGORITHM).
RSA_BITS = {9: 2048, 10: 3072, 11: 4096}
EC_CURVES = {12: ec.SECP256R1, 13: ec.SECP384R1, 14: ec.SECP521R1}
MGF1 = {32: hashes.SHA1, 33: hashes.SHA256, 34: hashes.SHA384, 35: hashes.SHA512}
HASH_BY_LEN = {20: hashes.SHA1, 28: hashes.SHA224, 32: hashes.SHA256,
               48: hashes.SHA384, 64: hashes.SHA512}
# DER DigestInfo prefixes (RFC 8017 9.2, note 1) of the bare hashes that
# SignPkcs1 wraps.
DIGEST_INFO = {
    20: "3021300906052b0e03021a05000414",
    32: "3031300d060960864801650304020105000420",
    48: "3041300d060960864801650304020205000430",
    64: "3051300d060960864801650304020305000440",
}


class Refused(Exception):
    """What the device refuses, with its error code (.code)."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


INVALID_DATA, WRONG_LENGTH = 0x02, 0x08


def generate(algorithm):
    if algorithm in RSA_BITS:
        return rsa.generate_private_key(65537, RSA_BITS[algorithm])
    if algorithm in EC_CURVES:
        return ec.generate_private_key(EC_CURVES[algorithm]())
    raise Refused(INVALID_DATA)


def import_raw(algorithm, material):
    """A key from PutAsymmetricKey's material: RSA p ‖ q, EC the scalar."""
    if algorithm in RSA_BITS:
        half = RSA_BITS[algorithm] // 16
        if len(material) != 2 * half:
            raise Refused(WRONG_LENGTH)
        p, q = int.from_bytes(material[:half], "big"), int.from_bytes(material[half:], "big")
        e, n = 65537, p * q
        try:
            d = pow(e, -1, (p - 1) * (q - 1))
        except ValueError:
            raise Refused(INVALID_DATA)
        pub = rsa.RSAPublicNumbers(e, n)
        return rsa.RSAPrivateNumbers(p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q),
                                     rsa.rsa_crt_iqmp(p, q), pub).private_key()
    if algorithm in EC_CURVES:
        curve = EC_CURVES[algorithm]()
        if len(material) != (curve.key_size + 7) // 8:
            raise Refused(WRONG_LENGTH)
        try:
            return ec.derive_private_key(int.from_bytes(material, "big"), curve)
        except ValueError:
            raise Refused(INVALID_DATA)
    raise Refused(INVALID_DATA)


def stored_length(key):
    """The object length GetObjectInfo reports: the imported material's."""
    if isinstance(key, rsa.RSAPrivateKey):
        return key.key_size // 8
    return (key.curve.key_size + 7) // 8


def public_raw(key):
    """GetPublicKey's key bytes: RSA the modulus, EC X ‖ Y without 04."""
    if isinstance(key, rsa.RSAPrivateKey):
        return key.public_key().public_numbers().n.to_bytes(key.key_size // 8, "big")
    point = key.public_key().public_bytes(serialization.Encoding.X962,
                                          serialization.PublicFormat.UncompressedPoint)
    return point[1:]


def public_from_raw(algorithm, raw):
    """The public key GetPublicKey described (the other end of public_raw)."""
    if algorithm in RSA_BITS:
        return rsa.RSAPublicNumbers(65537, int.from_bytes(raw, "big")).public_key()
    return ec.EllipticCurvePublicKey.from_encoded_point(EC_CURVES[algorithm](), b"\x04" + raw)


def public_pem(key):
    """SubjectPublicKeyInfo PEM of a private or public key."""
    if hasattr(key, "public_key"):
        key = key.public_key()
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def to_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def from_pem(text):
    return serialization.load_pem_private_key(text.encode(), None)


def _need(key, kind):
    if not isinstance(key, kind):
        raise Refused(INVALID_DATA)


def sign_pkcs1(key, data):
    """PKCS#1 v1.5: a bare SHA-1/256/384/512 hash is wrapped in its
    DigestInfo; any other input is taken as a DigestInfo already (libp11's
    CKM_RSA_PKCS path), as section 4 of PROTOCOL.md infers."""
    _need(key, rsa.RSAPrivateKey)
    if len(data) in DIGEST_INFO:
        data = bytes.fromhex(DIGEST_INFO[len(data)]) + data
    k = key.key_size // 8
    if len(data) > k - 11:
        raise Refused(WRONG_LENGTH)
    em = b"\x00\x01" + b"\xff" * (k - 3 - len(data)) + b"\x00" + data
    # cryptography signs only what it hashed or a known digest, so the raw
    # private operation (no blinding needed: a test fixture).
    n = key.private_numbers()
    return pow(int.from_bytes(em, "big"), n.d, n.public_numbers.n).to_bytes(k, "big")


def _prehashed(data):
    alg = HASH_BY_LEN.get(len(data))
    if alg is None:
        raise Refused(WRONG_LENGTH)
    return utils.Prehashed(alg())


def sign_pss(key, mgf1, salt_len, digest):
    _need(key, rsa.RSAPrivateKey)
    if mgf1 not in MGF1:
        raise Refused(INVALID_DATA)
    pss = padding.PSS(mgf=padding.MGF1(MGF1[mgf1]()), salt_length=salt_len)
    try:
        return key.sign(digest, pss, _prehashed(digest))
    except ValueError:
        raise Refused(INVALID_DATA)


# The group orders (SEC 2), for ECDSA over an input of any length.
ORDERS = {
    "secp256r1": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "secp384r1": int("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF"
                     "581A0DB248B0A77AECEC196ACCC52973", 16),
    "secp521r1": int("01" + "FF" * 32 + "FA51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AE"
                     "BB6FB71E91386409", 16),
}


def _der_integer(v):
    b = v.to_bytes(v.bit_length() // 8 + 1, "big")
    return b"\x02" + bytes([len(b)]) + b


def sign_ecdsa(key, data):
    """DER ECDSA with the input taken as a hash of its own length: its
    leftmost bits, as many as the order has (FIPS 186-4 6.4).  The module
    sends the hash as it is (2.8.0) or left-padded to the curve size
    (2.6.0); cryptography signs only digests of known lengths, so the
    signature is computed here (kG from cryptography)."""
    _need(key, ec.EllipticCurvePrivateKey)
    n = ORDERS.get(key.curve.name)
    if n is None or not data:
        raise Refused(INVALID_DATA)
    e = int.from_bytes(data, "big")
    if 8 * len(data) > n.bit_length():
        e >>= 8 * len(data) - n.bit_length()
    d = key.private_numbers().private_value
    while True:
        k = int.from_bytes(os.urandom(n.bit_length() // 8 + 16), "big") % n
        if not k:
            continue
        r = ec.derive_private_key(k, key.curve).public_key().public_numbers().x % n
        s = pow(k, -1, n) * (e + r * d) % n
        if r and s:
            break
    body = _der_integer(r) + _der_integer(s)
    length = bytes([len(body)]) if len(body) < 128 else b"\x81" + bytes([len(body)])
    return b"\x30" + length + body
