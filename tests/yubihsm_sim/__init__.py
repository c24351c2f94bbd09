"""A YubiHSM 2 simulator behind a yubihsm-connector look-alike (tests only)."""
