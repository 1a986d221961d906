"""The practice application's name cipher, and notifier's ``CONTENT_DECODER`` for it.

The application seals each patient's name with AES-256-GCM before it stores it
(``app.patients.name_sealed``): ``base64(nonce || ciphertext || tag)``, a fresh 12-byte nonce
per value, the column's name as associated data (a sealed value copied into another column
does not open). The 32-byte key is the application's, given to the worker as base64 in
``PRACTICE_NAME_KEY``.

notifier loads ``decoder:decode`` once at start (``CONTENT_DECODER=decoder:decode``, this
folder on ``PYTHONPATH``); the key is read at import, so a worker without it stops at start
instead of failing every reminder. ``decode`` opens ``clients.full_name`` (the view's name
for ``name_sealed``) and passes every other column through: they are not encrypted. A value
that does not open raises, and notifier records that notification ``failed`` with the table,
column and exception type, never the value.
"""

from __future__ import annotations

import base64
import os
import secrets

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_VARIABLE = "PRACTICE_NAME_KEY"
NONCE_BYTES = 12
ASSOCIATED = b"app.patients.name_sealed"
SEALED_COLUMNS = frozenset({("clients", "full_name")})


def key_from(text: str) -> AESGCM:
    """The cipher for a base64 key of 32 bytes (AES-256)."""
    key = base64.b64decode(text, validate=True)  # AES-256: 32 bytes
    if len(key) != 32:
        raise ValueError(f"{KEY_VARIABLE} must be 32 bytes, base64-encoded")
    return AESGCM(key)


def new_key() -> str:
    """A fresh key, base64: what an operator generates once and keeps in a secret store."""
    return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode("ascii")


def seal(cipher: AESGCM, name: str) -> str:
    """What the application stores for ``name``."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = cipher.encrypt(nonce, name.encode("utf-8"), ASSOCIATED)
    return base64.b64encode(nonce + sealed).decode("ascii")


def unseal(cipher: AESGCM, value: str) -> str:
    """``seal``'s inverse; raises on a value that was not sealed with this key."""
    blob = base64.b64decode(value, validate=True)
    nonce, sealed = blob[:NONCE_BYTES], blob[NONCE_BYTES:]
    return cipher.decrypt(nonce, sealed, ASSOCIATED).decode("utf-8")


def _cipher_from_environment() -> AESGCM:
    text = os.environ.get(KEY_VARIABLE)
    if not text:
        raise RuntimeError(f"{KEY_VARIABLE} is not set")
    return key_from(text)


# Read at import: a worker without the key stops at start (notifier names the import's
# exception type, never its message).
_CIPHER = _cipher_from_environment()


def decode(table: str, column: str, value: str) -> str:
    """notifier's ``CONTENT_DECODER``: the sealed column opened, any other passed through."""
    if (table, column) not in SEALED_COLUMNS:
        return value
    return unseal(_CIPHER, value)
