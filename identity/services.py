"""Writes of agents, the rotation of the agent identity key, an agent's signed identity."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.actors import Actor
from core.crypto import encrypt_secret
from core.model_changes import model_update, snapshot
from core.models import TenantOwned
from forensics.services import event_record
from identity.identity_keys import (
    ALGORITHM,
    DOCUMENT_TOKEN_SECONDS,
    identity_claims,
    identity_key_pem,
    public_jwk,
)
from identity.models import Agent, AgentStatus, IdentityKey
from identity.selectors import identity_keyring_load

logger = logging.getLogger(__name__)

AGENT_FIELDS = ["name", "description", "app", "allowed_models", "status", "metadata", "owner_email"]


def agent_identity_document(agent: Agent) -> dict[str, str]:
    """What never changes for the agent's life; its fingerprint is the SHA-256 of this."""
    return {
        "object": "agent",
        "id": agent.id,
        "tenant_id": agent.tenant_id,
        "created_at": agent.created_at.isoformat(),
    }


def agent_fingerprint(agent: Agent) -> str:
    """SHA-256 hex of the agent's identity document in canonical JSON (sorted keys, no blanks)."""
    document = agent_identity_document(agent)
    return hashlib.sha256(json.dumps(document, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def identity_issuer(base_url: str | None = None) -> str:
    """``iss`` of identity tokens: ``AGENT_IDENTITY_ISSUER``, else the base URL the gateway was
    reached at, else the first named host of ``ALLOWED_HOSTS``."""
    if settings.AGENT_IDENTITY_ISSUER:
        return settings.AGENT_IDENTITY_ISSUER
    if base_url:
        return base_url.rstrip("/")
    named = [host for host in settings.ALLOWED_HOSTS if host not in {"*", ""} and not host.startswith(".")]
    return f"http://{named[0]}" if named else "http://localhost"


def agent_identity_token(agent: Agent, *, base_url: str | None = None, now: float | None = None) -> str:
    """The agent's identity, signed (SPEC 3.10): the claims of a request's token without a
    request (no ``jti``, ``aud``, key, user or scopes), valid for 24 hours."""
    keyring = identity_keyring_load()
    iat = int(now if now is not None else time.time())
    claims = identity_claims(
        issuer=identity_issuer(base_url),
        agent_id=agent.id,
        tenant_id=agent.tenant_id,
        app_id=agent.app_id,
        key_id=None,
        user=None,
        fingerprint=agent.fingerprint,
        owner=agent.owner_email,
        scopes=[],
    )
    claims.update(iat=iat, exp=iat + DOCUMENT_TOKEN_SECONDS)
    return jwt.encode(claims, keyring.signing.private_key, algorithm=ALGORITHM, headers={"kid": keyring.signing.kid})


def _identity_key_store(private_key: ec.EllipticCurvePrivateKey, *, created_at, retired_at=None) -> IdentityKey:
    jwk = public_jwk(private_key)
    key, _ = IdentityKey.objects.update_or_create(
        kid=jwk["kid"],
        defaults={
            "private_key_encrypted": encrypt_secret(identity_key_pem(private_key)),
            "public_jwk": jwk,
            "created_at": created_at,
            "retired_at": retired_at,
        },
    )
    return key


@transaction.atomic
def identity_key_rotate() -> IdentityKey:
    """Make a new agent identity key current; the one it replaces stays published for 24 hours.

    The first rotation stores ``AGENT_IDENTITY_KEY`` too (retired now), so that the tokens it
    signed keep verifying on every process, whatever each one's environment says.
    """
    now = timezone.now()
    # Rotations one after the other: the row lock orders them (none yet: the first one stores).
    signing = list(IdentityKey.objects.select_for_update().filter(retired_at=None).values_list("kid", flat=True))
    if signing:
        IdentityKey.objects.filter(kid__in=signing).update(retired_at=now)
    else:
        old = identity_keyring_load(now=now).signing
        _identity_key_store(old.private_key, created_at=now, retired_at=now)
    new = _identity_key_store(ec.generate_private_key(ec.SECP256R1()), created_at=now)
    logger.info("agent identity key rotated: %s now signs, %s stay published", new.kid, signing or "the initial key")
    return new


def _app_of_tenant(app: TenantOwned | None, tenant_id: str) -> TenantOwned | None:
    """The agent's app (an ``apps.App``, named only by the relation) must be of its tenant."""
    if app is not None and app.tenant_id != tenant_id:
        raise ValidationError({"app_id": "names no app of this tenant"})
    return app


@transaction.atomic
def agent_create(*, tenant_id: str, actor: Actor, name: str, app: TenantOwned | None = None, **fields: Any) -> Agent:
    unknown = set(fields) - set(AGENT_FIELDS)
    if unknown:
        raise TypeError(f"unknown agent fields: {unknown}")
    agent = Agent(tenant_id=tenant_id, name=name, app=_app_of_tenant(app, tenant_id), **fields)
    agent.full_clean(exclude=["fingerprint"])
    agent.save()
    agent.fingerprint = agent_fingerprint(agent)
    Agent.objects.filter(pk=agent.pk).update(fingerprint=agent.fingerprint)
    event_record(agent, actor=actor, action="agent.created", changes=snapshot(agent, AGENT_FIELDS))
    return agent


@transaction.atomic
def agent_update(*, agent: Agent, actor: Actor, data: dict[str, Any]) -> Agent:
    if "app" in data:
        _app_of_tenant(data["app"], agent.tenant_id)
    if data.get("status", agent.status) not in AgentStatus.values:
        raise ValidationError({"status": "must be active or suspended"})
    changes = model_update(agent, data, fields=AGENT_FIELDS)
    if changes:
        action = "agent.updated"
        if "status" in changes:
            action = "agent.suspended" if agent.status == AgentStatus.SUSPENDED else "agent.reactivated"
        event_record(agent, actor=actor, action=action, changes=changes)
    return agent


@transaction.atomic
def agent_delete(*, agent: Agent, actor: Actor) -> None:
    """Soft delete: the agent disappears from every list, its keys are revoked, its logs stay."""
    now = timezone.now()
    # The agent's keys through the relation keys.Key declares (related_name "keys").
    revoked = agent.keys.exclude(revoked_at__lte=now).update(revoked_at=now, updated_at=now)
    agent.deleted_at = now
    agent.status = AgentStatus.SUSPENDED
    agent.save(update_fields=["deleted_at", "status", "updated_at"])
    event_record(
        agent,
        actor=actor,
        action="agent.deleted",
        changes={
            "deleted_at": {"before": None, "after": now.isoformat()},
            "keys_revoked": {"before": None, "after": revoked},
        },
    )
