"""Encryption at rest for provider credentials and other stored secrets.

``FIELD_ENCRYPTION_KEY`` holds one or more comma-separated Fernet keys; the first encrypts,
all decrypt (MultiFernet), so keys can be rotated without re-encrypting in one step.
"""

from __future__ import annotations

import base64
import functools
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


def _as_fernet_key(raw: str) -> bytes:
    raw = raw.strip()
    try:
        if len(base64.urlsafe_b64decode(raw.encode())) == 32:
            return raw.encode()
    except ValueError:
        pass
    # Any other string is stretched into a key, so an operator may use a long passphrase.
    return base64.urlsafe_b64encode(hashlib.sha256(raw.encode()).digest())


@functools.cache
def _fernet(keys: str) -> MultiFernet:
    return MultiFernet([Fernet(_as_fernet_key(k)) for k in keys.split(",") if k.strip()])


def encrypt_secret(plaintext: str) -> str:
    return _fernet(settings.FIELD_ENCRYPTION_KEY).encrypt(plaintext.encode()).decode()


def decrypt_secret(token: str) -> str:
    try:
        return _fernet(settings.FIELD_ENCRYPTION_KEY).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("stored secret cannot be decrypted with FIELD_ENCRYPTION_KEY") from exc
