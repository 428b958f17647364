"""Reads of agents, always within one tenant."""

from __future__ import annotations

from django.db.models import QuerySet

from identity.models import Agent


def agent_list(*, tenant_id: str) -> QuerySet[Agent]:
    return Agent.objects.for_tenant(tenant_id).filter(deleted_at=None)


def agent_get(*, tenant_id: str, agent_id: str) -> Agent | None:
    return agent_list(tenant_id=tenant_id).filter(pk=agent_id).first()


def agent_known(*, tenant_id: str, agent_id: str) -> bool:
    """Whether the tenant has (or had: deleted agents keep their logs, SPEC 5.2) this agent."""
    return Agent.objects.for_tenant(tenant_id).filter(pk=agent_id).exists()
