"""Ed25519 signing of checkpoints with ``AUDIT_SIGNING_KEY`` (a base64 32-byte seed or a
PEM private key); the public key is published so anyone can verify offline."""

from __future__ import annotations

import base64
import functools

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings


@functools.cache
def _private_key(material: str) -> Ed25519PrivateKey:
    material = material.strip()
    if material.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(material.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("AUDIT_SIGNING_KEY must be an Ed25519 key")
        return key
    seed = base64.b64decode(material)
    if len(seed) != 32:
        raise ValueError("AUDIT_SIGNING_KEY must be 32 bytes, base64-encoded, or an Ed25519 PEM")
    return Ed25519PrivateKey.from_private_bytes(seed)


def signing_key() -> Ed25519PrivateKey:
    return _private_key(settings.AUDIT_SIGNING_KEY)


def statement_sign(statement: bytes) -> str:
    return base64.b64encode(signing_key().sign(statement)).decode()


def public_key_pem() -> str:
    return (
        signing_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def signature_valid(public_key: Ed25519PublicKey, statement: bytes, signature: str) -> bool:
    try:
        public_key.verify(base64.b64decode(signature), statement)
    except (InvalidSignature, ValueError):
        return False
    return True


def public_key_load(pem: str) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key
