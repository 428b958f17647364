"""Writes of agents."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.actors import Actor
from core.model_changes import model_update, snapshot
from core.models import TenantOwned
from forensics.services import event_record
from identity.models import Agent, AgentStatus

AGENT_FIELDS = ["name", "description", "app", "allowed_models", "status", "metadata", "owner_email"]


def agent_fingerprint(agent: Agent) -> str:
    """SHA-256 of the agent's identity document: what never changes for the agent's life."""
    document = {
        "object": "agent",
        "id": agent.id,
        "tenant_id": agent.tenant_id,
        "created_at": agent.created_at.isoformat(),
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


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
