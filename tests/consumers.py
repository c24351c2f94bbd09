"""A PyKCS11 program that logs in, lists its private keys and exits without
logging out: argv[1] is the module, argv[2] the token label, argv[3] the PIN."""
import sys

import PyKCS11

lib = PyKCS11.PyKCS11Lib()
lib.load(sys.argv[1])
slot = [s for s in lib.getSlotList(tokenPresent=True)
        if lib.getTokenInfo(s).label.strip() == sys.argv[2]][0]
session = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION)
session.login(sys.argv[3])
keys = session.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY)])
print("private keys:", len(keys))
