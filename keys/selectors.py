"""Reads of agent keys and org keys, always within one tenant."""

from __future__ import annotations

from django.db.models import QuerySet

from keys.models import Key, OrgKey


def key_list(*, tenant_id: str, agent_id: str) -> QuerySet[Key]:
    """Every key of one agent, revoked and expired ones included (they are its history)."""
    return Key.objects.for_tenant(tenant_id).filter(agent_id=agent_id)


def key_get(*, tenant_id: str, agent_id: str, key_id: str) -> Key | None:
    return key_list(tenant_id=tenant_id, agent_id=agent_id).filter(pk=key_id).first()


def org_key_list(*, tenant_id: str) -> QuerySet[OrgKey]:
    return OrgKey.objects.for_tenant(tenant_id)


def org_key_get(*, tenant_id: str, org_key_id: str) -> OrgKey | None:
    return org_key_list(tenant_id=tenant_id).filter(pk=org_key_id).first()
