"""The request log browser: filtered, keyset-paginated lists and one record with its chain status."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from django import forms
from django.core.handlers.asgi import ASGIRequest
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from console.access import ConsoleRequest, console_context, console_page
from console.formatting import exact_number_text
from console.selectors import (
    STATUS_CLASSES,
    LogBrowserFilters,
    agent_choices,
    agent_names,
    app_names,
    log_browser_records,
    log_page,
    records_named,
)
from forensics.api.serializers import ExportFormat
from forensics.api.views import EXPORT_CONTENT_TYPES, byte_batches, pulled_in_thread
from forensics.export import export_csv, export_jsonl
from forensics.models import RECORD_ENDPOINTS, RequestLog
from forensics.sealing import audit_chain_verify
from forensics.selectors import LogFilters, log_get

PAGE_SIZE = 50
DATETIME_INPUTS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"]
# SPEC section 6, in its order; the chain fields are shown on their own.
RECORD_FIELDS = [
    "id", "client_request_id", "created_at", "tenant_id", "app_id", "agent_id", "key_id", "credential", "user",
    "identity_source", "conversation_id", "endpoint", "model_requested", "model_resolved", "provider_id", "stream",
    "status_code", "error_code", "error_reason", "prompt_tokens", "completion_tokens", "cost_usd", "latency_ms",
    "upstream_latency_ms", "client_ip", "user_agent", "policy_ids", "fail_open",
]  # fmt: skip


# Shown with thousands separators, every recorded digit kept (a record page shows what was recorded).
GROUPED_FIELDS = frozenset({"prompt_tokens", "completion_tokens", "latency_ms", "upstream_latency_ms", "cost_usd"})


class StatusField(forms.CharField):
    def clean(self, value: Any) -> str:
        value = super().clean(value).strip()
        if value and value not in STATUS_CLASSES and not (value.isdigit() and 100 <= int(value) <= 599):
            raise forms.ValidationError("an HTTP status (429) or a class: 2xx, 4xx, 5xx, errors")
        return value


class LogFilterForm(forms.Form):
    since = forms.DateTimeField(required=False, input_formats=DATETIME_INPUTS, widget=forms.DateTimeInput(
        attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"), label="From (UTC)")  # fmt: skip
    until = forms.DateTimeField(required=False, input_formats=DATETIME_INPUTS, widget=forms.DateTimeInput(
        attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"), label="Until (UTC)")  # fmt: skip
    app = forms.ChoiceField(required=False)
    agent = forms.ChoiceField(required=False)
    user = forms.CharField(required=False, max_length=320)
    model = forms.CharField(required=False, max_length=200)
    endpoint = forms.ChoiceField(required=False, choices=[("", "any endpoint"), *((e, e) for e in RECORD_ENDPOINTS)])
    status = StatusField(required=False, max_length=6, help_text="429, 4xx, 5xx, errors")
    reason = forms.CharField(required=False, max_length=64, help_text="e.g. rate_limited, model_not_allowed")
    conversation = forms.CharField(required=False, max_length=128)

    def __init__(self, *args: Any, apps: dict[str, str], agents: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["app"].choices = [("", "any app"), *apps.items()]
        self.fields["agent"].choices = [("", "any agent"), *agents.items()]

    def browser_filters(self) -> LogBrowserFilters:
        data = self.cleaned_data
        status = data.get("status") or ""
        return LogBrowserFilters(
            base=LogFilters(
                since=data.get("since"), until=data.get("until"), app_id=data.get("app") or None,
                agent_id=data.get("agent") or None, user=data.get("user") or None, model=data.get("model") or None,
                status=int(status) if status.isdigit() else None, conversation_id=data.get("conversation") or None,
                endpoint=data.get("endpoint") or None,
            ),
            reason=data.get("reason") or None,
            status_class=status if status in STATUS_CLASSES else None,
        )  # fmt: skip


@console_page
def log_list_view(request: ConsoleRequest) -> TemplateResponse:
    tenant_id = request.console.tenant_id
    apps = app_names(tenant_id=tenant_id)
    form = LogFilterForm(request.GET or None, apps=apps, agents=agent_choices(tenant_id=tenant_id))
    records: list[RequestLog] = []
    has_more = False
    # Filters that do not parse show what is wrong instead of a list they would not describe.
    if not form.is_bound or form.is_valid():
        filters = form.browser_filters() if form.is_bound else LogBrowserFilters(base=LogFilters())
        records, has_more = log_page(
            tenant_id=tenant_id, filters=filters, after=request.GET.get("after"), limit=PAGE_SIZE
        )
    query = request.GET.copy()
    query.pop("after", None)
    export_query = query.urlencode()
    if has_more and records:
        query["after"] = records[-1].id
    context = {
        "title": "Request logs",
        "form": form,
        "console_section": "logs",
        "records": records_named(tenant_id=tenant_id, records=records),
        "next_query": query.urlencode() if has_more and records else None,
        "filtered": any(v for k, v in request.GET.items() if k not in ("after", "tenant")),
        "export_query": export_query,
    }
    return TemplateResponse(request, "console/logs.html", console_context(request, **context))


@console_page
def log_export_view(request: ConsoleRequest) -> HttpResponse:
    """The records the log browser's current filters select, as the API's export streams them
    (``GET /v1/logs/export``: the same generators, JSONL with chain values and checkpoints, or CSV),
    always within the console's tenant. The browser's extra filters (agent, reason, status class)
    apply too, so the file holds what the page lists."""
    tenant_id = request.console.tenant_id
    form = LogFilterForm(request.GET, apps=app_names(tenant_id=tenant_id), agents=agent_choices(tenant_id=tenant_id))
    raw_format = request.GET.get("format") or ExportFormat.CSV
    if raw_format not in ExportFormat.values or not form.is_valid():
        return HttpResponse("Correct the filters (or the format: csv or jsonl) and export again.", status=400,
                            content_type="text/plain; charset=utf-8")  # fmt: skip
    export_format = ExportFormat(raw_format)
    filters = form.browser_filters()
    records = log_browser_records(tenant_id=tenant_id, filters=filters)
    if export_format == ExportFormat.CSV:
        parts = export_csv(records, tenant_id=tenant_id)
    else:
        narrowed = filters.base.narrows or filters.reason is not None or filters.status_class is not None
        parts = export_jsonl(records, tenant_id=tenant_id, complete=not narrowed)
    chunks = byte_batches(parts)
    body = pulled_in_thread(chunks) if isinstance(request, ASGIRequest) else chunks
    response = StreamingHttpResponse(body, content_type=EXPORT_CONTENT_TYPES[export_format])
    filename = f"aidgate-logs-{tenant_id}-{timezone.now():%Y%m%dT%H%M%SZ}.{export_format.value}"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


def _pretty(body: str | None) -> str | None:
    """A captured body as indented JSON when it is JSON; an SSE stream one event per line."""
    if body is None:
        return None
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False, sort_keys=False)
    except ValueError:
        pass
    lines = []
    for line in body.splitlines():
        if line.startswith("data: ") and line[6:].strip() not in ("", "[DONE]"):
            with contextlib.suppress(ValueError):
                line = "data: " + json.dumps(json.loads(line[6:]), ensure_ascii=False)
        lines.append(line)
    return "\n".join(lines)


def _display(value: Any, name: str = "") -> str:
    if value is None:
        # A null cost means the model had no price (docs/providers.md → Prices), not "none".
        return "unpriced" if name == "cost_usd" else "—"
    if name in GROUPED_FIELDS:
        return exact_number_text(value)
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


@console_page
def log_detail_view(request: ConsoleRequest, request_id: str) -> TemplateResponse:
    tenant_id = request.console.tenant_id
    # Another tenant's record answers exactly like an unknown id.
    record = log_get(tenant_id=tenant_id, request_id=request_id)
    if record is None:
        raise Http404("no such request")
    verdict = audit_chain_verify(tenant_id=tenant_id) if request.GET.get("verify") else None
    agent = agent_names(tenant_id=tenant_id, agent_ids=[record.agent_id]).get(record.agent_id or "")
    app = app_names(tenant_id=tenant_id).get(record.app_id or "")
    names = {"agent_id": agent, "app_id": app}
    context = {
        "title": f"Request {record.id}",
        "console_section": "logs",
        "record": record,
        "fields": [(name, _display(getattr(record, name), name), names.get(name)) for name in RECORD_FIELDS],
        "request_body": _pretty(record.request_body),
        "response_body": _pretty(record.response_body),
        "sealed": record.sealed_at is not None,
        "verdict": verdict,
    }
    return TemplateResponse(request, "console/log_detail.html", console_context(request, **context))
