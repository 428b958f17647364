"""End users and their conversations (``X-Conversation-Id``), down to one conversation's requests."""

from __future__ import annotations

from datetime import datetime

from django.http import Http404
from django.template.response import TemplateResponse
from django.utils import timezone

from analytics.selectors import conversation_page, end_user_page, end_user_seen
from console.access import ConsoleRequest, console_context, console_page
from console.selectors import conversation_records, records_named
from console.views.dashboard import PERIODS
from core.errors import GatewayError

PAGE_SIZE = 50
ALL_TIME = "all"


def _since(raw: str | None) -> tuple[str, datetime | None]:
    period = PERIODS.get(raw or "")
    if period is None:
        return ALL_TIME, None
    since, _, _ = period.window(timezone.now())
    return period.key, since


def _page(fetch, after: str | None):
    try:
        return fetch(after)
    except GatewayError:
        # A cursor that names nothing (a stale link): start again from the first page.
        return fetch(None)


@console_page
def user_list_view(request: ConsoleRequest) -> TemplateResponse:
    tenant_id = request.console.tenant_id
    period_key, since = _since(request.GET.get("period"))
    domain = (request.GET.get("domain") or "").strip() or None
    items, has_more = _page(
        lambda after: end_user_page(
            tenant_id=tenant_id, limit=PAGE_SIZE, after=after, since=since, email_domain=domain
        ),
        request.GET.get("after"),
    )
    context = {
        "title": "End users",
        "console_section": "users",
        "users": items,
        "next_after": items[-1]["user"] if has_more and items else None,
        "period_key": period_key,
        "periods": [*PERIODS.values()],
        "domain": domain or "",
    }
    return TemplateResponse(request, "console/users.html", console_context(request, **context))


@console_page
def conversation_list_view(request: ConsoleRequest) -> TemplateResponse:
    tenant_id = request.console.tenant_id
    user = request.GET.get("user") or ""
    # Another tenant's end user is as unknown here as one never seen.
    if not user or not end_user_seen(tenant_id=tenant_id, user=user):
        raise Http404("no such end user")
    items, has_more = _page(
        lambda after: conversation_page(tenant_id=tenant_id, user=user, limit=PAGE_SIZE, after=after),
        request.GET.get("after"),
    )
    context = {
        "title": f"Conversations of {user}",
        "console_section": "users",
        "end_user": user,
        "conversations": items,
        "next_after": items[-1]["conversation_id"] if has_more and items else None,
    }
    return TemplateResponse(request, "console/conversations.html", console_context(request, **context))


@console_page
def conversation_detail_view(request: ConsoleRequest) -> TemplateResponse:
    tenant_id = request.console.tenant_id
    user = request.GET.get("user") or ""
    conversation_id = request.GET.get("id") or ""
    records = conversation_records(tenant_id=tenant_id, user=user, conversation_id=conversation_id) if user else []
    if not records:
        raise Http404("no such conversation")
    context = {
        "title": f"Conversation {conversation_id}",
        "console_section": "users",
        "end_user": user,
        "conversation_id": conversation_id,
        "records": records_named(tenant_id=tenant_id, records=records),
        "totals": {
            "requests": len(records),
            "tokens": sum(r.prompt_tokens + r.completion_tokens for r in records),
            "cost_usd": sum(r.cost_usd for r in records if r.cost_usd is not None),
            "unpriced": sum(1 for r in records if r.cost_usd is None),
            "errors": sum(1 for r in records if r.status_code >= 400),
        },
    }
    return TemplateResponse(request, "console/conversation.html", console_context(request, **context))
