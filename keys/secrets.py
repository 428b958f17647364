"""Credential secrets: generation, keyed digest and display prefix.

The digest is an HMAC-SHA-256 under ``KEY_HASH_SECRET``: a stolen database alone cannot
be used to test guesses offline, and lookup stays one indexed equality query.
"""

from __future__ import annotations

import functools
import hashlib
import hmac

from django.conf import settings

from core.ids import random_base62

AGENT_KEY_PREFIX = "aid_sk_"
ORG_KEY_PREFIX = "aid_org_"
SECRET_RANDOM_LENGTH = 40
DISPLAY_CHARS = 4


def secret_generate(prefix: str) -> str:
    return prefix + random_base62(SECRET_RANDOM_LENGTH)


@functools.lru_cache(maxsize=4)
def _keyed_hmac(key: str) -> hmac.HMAC:
    return hmac.new(key.encode(), digestmod=hashlib.sha256)


def secret_digest(secret: str) -> str:
    # A copy of the HMAC already keyed, rather than keying a new one: the proxy digests the
    # presented key on every request (instructions: docs/performance-log.md, 2026-11-24 00:34-02:07).
    digest = _keyed_hmac(settings.KEY_HASH_SECRET).copy()
    digest.update(secret.encode())
    return digest.hexdigest()


def secret_display_prefix(secret: str) -> str:
    """``aid_sk_`` plus the first four random characters: enough to tell keys apart."""
    kind = AGENT_KEY_PREFIX if secret.startswith(AGENT_KEY_PREFIX) else ORG_KEY_PREFIX
    return secret[: len(kind) + DISPLAY_CHARS]


def digest_matches(secret: str, digest: str) -> bool:
    return hmac.compare_digest(secret_digest(secret), digest)
