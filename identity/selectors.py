"""Reads of agents, always within one tenant, and of the platform's agent identity keys."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from core.crypto import decrypt_secret
from identity.identity_keys import (
    RETIRED_KEY_PUBLISHED_SECONDS,
    Keyring,
    SigningKey,
    identity_key_load,
    public_jwk,
)
from identity.models import Agent, IdentityKey


def agent_list(*, tenant_id: str) -> QuerySet[Agent]:
    return Agent.objects.for_tenant(tenant_id).filter(deleted_at=None)


def agent_get(*, tenant_id: str, agent_id: str) -> Agent | None:
    return agent_list(tenant_id=tenant_id).filter(pk=agent_id).first()


def agent_known(*, tenant_id: str, agent_id: str) -> bool:
    """Whether the tenant has (or had: deleted agents keep their logs, SPEC 5.2) this agent."""
    return Agent.objects.for_tenant(tenant_id).filter(pk=agent_id).exists()


def _published_rows(now: datetime | None) -> list[IdentityKey]:
    since = (now or timezone.now()) - timedelta(seconds=RETIRED_KEY_PUBLISHED_SECONDS)
    return list(IdentityKey.objects.filter(Q(retired_at=None) | Q(retired_at__gt=since)).order_by("-created_at"))


def identity_keyring_load(*, now: datetime | None = None) -> Keyring:
    """The key that signs agent identities and the public keys to publish (SPEC 3.10).

    The database's newest unretired key signs, with every key retired less than a day ago
    published beside it; while the database holds no unretired key (before the first
    ``rotate_identity_key``), ``AGENT_IDENTITY_KEY`` signs and is published first.
    """
    rows = _published_rows(now)
    current = next((row for row in rows if row.retired_at is None), None)
    if current is None:
        private_key = identity_key_load(settings.AGENT_IDENTITY_KEY)
        jwk = public_jwk(private_key)
        retired = tuple(row.public_jwk for row in rows if row.kid != jwk["kid"])
        return Keyring(signing=SigningKey(jwk["kid"], private_key), published=(jwk, *retired))
    private_key = identity_key_load(decrypt_secret(current.private_key_encrypted))
    others = tuple(row.public_jwk for row in rows if row is not current)
    return Keyring(signing=SigningKey(current.kid, private_key), published=(current.public_jwk, *others))


def identity_jwks(*, now: datetime | None = None) -> dict[str, Any]:
    """The published public keys as a JWKS, the signing key's first; no private key is read."""
    rows = _published_rows(now)
    if any(row.retired_at is None for row in rows):
        return {"keys": [row.public_jwk for row in sorted(rows, key=lambda row: row.retired_at is not None)]}
    jwk = public_jwk(identity_key_load(settings.AGENT_IDENTITY_KEY))
    return {"keys": [jwk, *(row.public_jwk for row in rows if row.kid != jwk["kid"])]}
