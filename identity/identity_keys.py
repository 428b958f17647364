"""The agent identity keys' material (SPEC 3.10): parsing, public JWKs and their RFC 7638
thumbprints, the claims of an identity token. Plain functions, no database."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

ALGORITHM = "ES256"
# A token on an upstream request lives five minutes; the agent's own signed document a day.
REQUEST_TOKEN_SECONDS = 300
DOCUMENT_TOKEN_SECONDS = 24 * 3600
# How long a retired key stays published (SPEC 3.10: 24 hours).
RETIRED_KEY_PUBLISHED_SECONDS = 24 * 3600


@functools.lru_cache(maxsize=16)
def identity_key_load(pem: str) -> ec.EllipticCurvePrivateKey:
    """A P-256 private key from its PEM (settings refuse any other at start)."""
    key = serialization.load_pem_private_key(pem.strip().encode(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("an agent identity key must be a P-256 private key")
    return key


def identity_key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace."""
    required = {name: jwk[name] for name in ("crv", "kty", "x", "y")}
    canonical = json.dumps(required, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()


def public_jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    """The key's public half as a JWK, with ``kid`` (its thumbprint), ``use`` and ``alg``."""
    jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    public = {name: jwk[name] for name in ("kty", "crv", "x", "y")}
    return {**public, "kid": jwk_thumbprint(public), "use": "sig", "alg": ALGORITHM}


@dataclass(frozen=True, slots=True)
class SigningKey:
    """The key that signs now: its ``kid`` and its private key, parsed once."""

    kid: str
    private_key: ec.EllipticCurvePrivateKey


@dataclass(frozen=True, slots=True)
class Keyring:
    """The signing key and every published public key (the signing key's first)."""

    signing: SigningKey
    published: tuple[dict[str, Any], ...]

    def jwks(self) -> dict[str, Any]:
        return {"keys": list(self.published)}


def identity_claims(
    *,
    issuer: str,
    agent_id: str,
    tenant_id: str,
    app_id: str | None,
    key_id: str | None,
    user: str | None,
    fingerprint: str,
    owner: str | None,
    scopes: list[str],
) -> dict[str, Any]:
    """The claims every identity token carries (SPEC 3.10), in the order they are written;
    a request's token adds ``aud``, ``jti``, ``iat`` and ``exp``, the agent's document ``iat``
    and ``exp``."""
    return {
        "iss": issuer,
        "sub": agent_id,
        "tenant": tenant_id,
        "app": app_id,
        "key": key_id,
        "user": user,
        "fingerprint": fingerprint,
        "owner": owner or None,
        "scope": scopes,
    }
