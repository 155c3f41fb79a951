import os
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives import hashes
key = AESGCM.generate_key(bit_length=128)
nonce = os.urandom(12)
ct = AESGCM(key).encrypt(nonce, b"lambda", None)
assert AESGCM(key).decrypt(nonce, ct, None) == b"lambda"
h = hashes.Hash(hashes.SHA256()); h.update(b"x")
assert len(h.finalize()) == 32
print("ok")
