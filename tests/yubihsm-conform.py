#!/usr/bin/python3
"""python3-yubihsm, an independent client, against the simulator:
authenticate, generate an RSA-2048 and an EC P-256 key, import an EC key,
sign with each, list, delete, close.

  yubihsm-conform.py URL DIR

Leaves in DIR, for openssl to verify: data, and for each key NAME
NAME.pub (PEM) and NAME.sig (DER ECDSA or PKCS#1 v1.5, SHA-256).  Prints
what it did; exits non-zero on the first failure."""

import http.client
import sys
import urllib.parse

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from yubihsm import YubiHsm
from yubihsm.defs import ALGORITHM, CAPABILITY, OBJECT
from yubihsm.objects import AsymmetricKey

url, out = sys.argv[1], sys.argv[2]
data = b"signed by python-yubihsm through the simulator\n"
with open(out + "/data", "wb") as f:
    f.write(data)


def save(name, public, sig):
    with open("%s/%s.pub" % (out, name), "wb") as f:
        f.write(public.public_bytes(serialization.Encoding.PEM,
                                    serialization.PublicFormat.SubjectPublicKeyInfo))
    with open("%s/%s.sig" % (out, name), "wb") as f:
        f.write(sig)


class Backend:
    """A transport for when python-yubihsm's own HTTP backend cannot load
    (python3-requests is only a Recommends of python3-yubihsm): one POST per
    frame, as that backend sends.  The protocol is all python-yubihsm's."""

    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)

    def transceive(self, msg):
        self.conn.request("POST", "/connector/api", msg,
                          {"Content-Type": "application/octet-stream"})
        r = self.conn.getresponse()
        body = r.read()
        if r.status != 200:
            raise OSError("HTTP %d" % r.status)
        return body

    def close(self):
        self.conn.close()


try:
    import requests  # noqa: F401
    hsm = YubiHsm.connect(url)
    print("backend: python-yubihsm's HttpBackend")
except ImportError:
    hsm = YubiHsm(Backend(url))
    print("backend: http.client (python3-requests is not installed)")
info = hsm.get_device_info()
print("device", ".".join(map(str, info.version)), "serial", info.serial)
session = hsm.create_session_derived(1, "password")
rsa_key = AsymmetricKey.generate(session, 0x20, "py-rsa", 0xFFFF, CAPABILITY.SIGN_PKCS,
                                 ALGORITHM.RSA_2048)
save("py-rsa", rsa_key.get_public_key(), rsa_key.sign_pkcs1v1_5(data, hashes.SHA256()))
ec_key = AsymmetricKey.generate(session, 0x21, "py-ec", 0xFFFF, CAPABILITY.SIGN_ECDSA,
                                ALGORITHM.EC_P256)
save("py-ec", ec_key.get_public_key(), ec_key.sign_ecdsa(data, hashes.SHA256()))
# An imported key: the public key written is the one generated here.
mine = ec.generate_private_key(ec.SECP256R1())
put = AsymmetricKey.put(session, 0x22, "py-put", 0xFFFF, CAPABILITY.SIGN_ECDSA, mine)
save("py-put", mine.public_key(), put.sign_ecdsa(data, hashes.SHA256()))
print("origin of the imported key:", put.get_info().origin)
listed = sorted(o.id for o in session.list_objects(object_type=OBJECT.ASYMMETRIC_KEY))
print("asymmetric keys:", " ".join("0x%04x" % i for i in listed))
assert {0x20, 0x21, 0x22} <= set(listed), listed
put.delete()
assert 0x22 not in [o.id for o in session.list_objects(object_type=OBJECT.ASYMMETRIC_KEY)]
print("random:", len(session.get_pseudo_random(32)), "bytes")
session.close()
hsm.close()
print("closed")
