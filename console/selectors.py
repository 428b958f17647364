"""Reads the console pages need that no other app's selectors answer; always within one tenant.

Usage figures come from :mod:`analytics.selectors` and records from :mod:`forensics.selectors`;
what is here narrows those further (a refusal breakdown, keyset pages of the log browser, one
conversation in order, the names behind ids, the playground's model choices).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Q, QuerySet

from apps.selectors import app_list
from core.errors import GatewayError
from forensics.models import RequestLog
from forensics.selectors import LogFilters, log_list
from forensics.selectors import log_page as records_page
from identity.models import Agent
from identity.selectors import agent_list
from providers.selectors import alias_list, provider_list

# The status filter of the log browser: an exact code or a class.
STATUS_CLASSES = {"2xx": (200, 300), "4xx": (400, 500), "5xx": (500, 600), "errors": (400, 600)}
GLOB_CHARACTERS = frozenset("*?[")


def _records(tenant_id: str) -> QuerySet[RequestLog]:
    return log_list(tenant_id=tenant_id)


def refusal_breakdown(*, tenant_id: str, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """Records that ended in an error or a refusal, counted by status, code and reason, most first.

    Includes streams the client left (status 200, reason ``client_disconnected``): every
    record that names a reason, not only 4xx/5xx answers.
    """
    records = _records(tenant_id).filter(created_at__gte=since, created_at__lt=until)
    records = records.filter(Q(status_code__gte=400) | Q(error_reason__isnull=False))
    rows = records.order_by().values("status_code", "error_code", "error_reason").annotate(count=Count("id"))
    return sorted(rows, key=lambda r: (-r["count"], r["status_code"], r["error_code"] or "", r["error_reason"] or ""))


def conversation_counts(*, tenant_id: str, since: datetime, until: datetime, users: list[str]) -> dict[str, int]:
    """How many distinct conversations each of ``users`` had in the window."""
    if not users:
        return {}
    records = _records(tenant_id).filter(
        created_at__gte=since, created_at__lt=until, user__in=users, conversation_id__isnull=False
    )
    rows = records.order_by().values("user").annotate(conversations=Count("conversation_id", distinct=True))
    return {row["user"]: row["conversations"] for row in rows}


@dataclass(frozen=True, slots=True, kw_only=True)
class LogBrowserFilters:
    """The log browser's filters: SPEC 5.7's plus the error reason and status classes."""

    base: LogFilters
    reason: str | None = None
    status_class: str | None = None


def _browser_narrowed(records: QuerySet[RequestLog], filters: LogBrowserFilters) -> QuerySet[RequestLog]:
    """``records`` narrowed by the browser's filters beyond SPEC 5.7's (reason, status class)."""
    if filters.reason:
        records = records.filter(error_reason=filters.reason)
    if filters.status_class in STATUS_CLASSES:
        low, high = STATUS_CLASSES[filters.status_class]
        records = records.filter(status_code__gte=low, status_code__lt=high)
    return records


def log_browser_records(*, tenant_id: str, filters: LogBrowserFilters) -> QuerySet[RequestLog]:
    """The tenant's records the log browser's filters select, newest first (its pages and its export)."""
    return _browser_narrowed(log_list(tenant_id=tenant_id, filters=filters.base), filters)


def log_page(
    *, tenant_id: str, filters: LogBrowserFilters, after: str | None, limit: int
) -> tuple[list[RequestLog], bool]:
    """One page of the tenant's records, newest first; ``after`` is the last id of the page before.

    Paged as the API pages ``GET /v1/logs`` (``forensics.selectors.log_page``: keyset pages,
    the last day and month tried first, so that on PostgreSQL a page plans the month
    partitions it reads rather than all of them). A cursor that names no record of the list
    (filters changed under it, a hand-made link) starts again at the first page.
    """

    def narrow(records: QuerySet[RequestLog]) -> QuerySet[RequestLog]:
        return _browser_narrowed(records, filters)

    try:
        page = records_page(tenant_id=tenant_id, filters=filters.base, limit=limit, after=after or None, narrow=narrow)
    except GatewayError as error:
        if error.reason != "invalid_cursor":
            raise
        page = records_page(tenant_id=tenant_id, filters=filters.base, limit=limit, narrow=narrow)
    return list(page.items), page.has_more


def conversation_records(*, tenant_id: str, user: str, conversation_id: str) -> list[RequestLog]:
    """One end user's requests of one conversation, in the order they were made."""
    filters = LogFilters(user=user, conversation_id=conversation_id)
    return list(log_list(tenant_id=tenant_id, filters=filters).order_by("created_at", "id"))


def agent_names(*, tenant_id: str, agent_ids: list[str | None] | set[str | None]) -> dict[str, str]:
    """Agent id -> name, deleted agents included (their records outlive them)."""
    wanted = [a for a in set(agent_ids) if a]
    if not wanted:
        return {}
    return dict(Agent.objects.for_tenant(tenant_id).filter(pk__in=wanted).values_list("id", "name"))


def agent_choices(*, tenant_id: str) -> dict[str, str]:
    """Agent id -> label for filters: every agent the records may name, deleted ones marked."""
    rows = Agent.objects.for_tenant(tenant_id).order_by("name", "id").values_list("id", "name", "deleted_at")
    return {agent_id: f"{name} (deleted)" if deleted else name for agent_id, name, deleted in rows}


def app_names(*, tenant_id: str) -> dict[str, str]:
    return dict(app_list(tenant_id=tenant_id).order_by("name").values_list("id", "name"))


@dataclass(frozen=True, slots=True)
class PlaygroundChoices:
    apps: list[Any]
    agents: list[Agent]
    aliases: list[str]
    models: list[str]  # concrete model names the tenant's providers or agents name
    patterns: list[str]  # provider patterns such as "mock-*": any matching name routes

    @property
    def suggestions(self) -> list[str]:
        return [*self.aliases, *(m for m in self.models if m not in self.aliases)]


def playground_choices(*, tenant_id: str) -> PlaygroundChoices:
    """The apps, agents and model names the playground offers for one tenant."""
    apps = list(app_list(tenant_id=tenant_id).order_by("-is_default", "name"))
    agents = list(agent_list(tenant_id=tenant_id).select_related("app").order_by("name", "id"))
    aliases = sorted(alias_list(tenant_id=tenant_id).values_list("alias", flat=True))
    names: set[str] = set()
    patterns: set[str] = set()
    for provider_models in provider_list(tenant_id=tenant_id).values_list("models", flat=True):
        for name in provider_models or []:
            (patterns if GLOB_CHARACTERS & set(name) else names).add(name)
    for agent in agents:
        names.update(m for m in agent.allowed_models or [] if not GLOB_CHARACTERS & set(m))
    return PlaygroundChoices(apps, agents, aliases, sorted(names), sorted(patterns))


def records_named(*, tenant_id: str, records: list[RequestLog]) -> list[RequestLog]:
    """Set ``agent_name`` and ``app_name`` on each record (for display; ids stay as they are)."""
    agents = agent_names(tenant_id=tenant_id, agent_ids={r.agent_id for r in records})
    apps = app_names(tenant_id=tenant_id)
    for record in records:
        record.agent_name = agents.get(record.agent_id or "")
        record.app_name = apps.get(record.app_id or "")
    return records
