"""Console pages of the forensic record and the management audit trail: read-only evidence.

These tables grow without bound, so lists never count the whole table and filter only on
indexed or low-cardinality columns.
"""

from __future__ import annotations

import json

from django.contrib import admin
from django.utils.html import format_html

from forensics.models import Event, RequestLog
from tenants.admin_base import ReadOnlyTenantScopedAdmin

WHO_FIELDS = [
    "credential", "key_id", "agent_id", "app_id", "user", "identity_source", "conversation_id", "client_request_id",
    "client_ip", "user_agent",
]  # fmt: skip
USAGE_FIELDS = [
    "model_requested", "model_resolved", "provider_id", "stream", "prompt_tokens", "completion_tokens", "cost_usd",
    "latency_ms", "upstream_latency_ms", "policy_ids", "fail_open",
]  # fmt: skip
SEARCH_FIELDS = ["=id", "=user", "=conversation_id", "=client_request_id", "=agent_id", "=key_id", "model_requested"]


@admin.register(RequestLog)
class RequestLogAdmin(ReadOnlyTenantScopedAdmin):
    fieldsets = [
        (None, {"fields": ["id", "created_at", "endpoint", "status_code", "error_code", "error_reason"]}),
        ("Who", {"fields": WHO_FIELDS}),
        ("Model and usage", {"fields": USAGE_FIELDS}),
        ("Bodies", {"fields": ["request_body", "response_body"], "classes": ["collapse"]}),
        ("Tamper evidence", {"fields": ["seq", "prev_hash", "chain_hash", "sealed_at", "tenant_id"]}),
    ]
    list_display = [
        "id", "created_at", "endpoint", "status_code", "error_code", "model_requested", "user", "agent_id",
        "total_tokens", "cost_usd", "latency_ms", "tenant_id",
    ]  # fmt: skip
    list_filter = ["endpoint", "credential", "stream", "created_at"]
    # Exact matches ("=") keep searches on the indexed columns of a large table.
    search_fields = SEARCH_FIELDS
    show_full_result_count = False
    list_per_page = 50

    @admin.display(description="tokens")
    def total_tokens(self, obj: RequestLog) -> int:
        return obj.prompt_tokens + obj.completion_tokens


@admin.register(Event)
class EventAdmin(ReadOnlyTenantScopedAdmin):
    fieldsets = [
        (None, {"fields": ["id", "created_at", "action", "object_type", "object_id"]}),
        ("Actor", {"fields": ["actor_type", "actor_id"]}),
        ("Changes", {"fields": ["changes_pretty"]}),
        ("Tenant", {"fields": ["tenant_id"]}),
    ]
    list_display = ["created_at", "action", "object_type", "object_id", "actor_type", "actor_id", "tenant_id"]
    list_filter = ["object_type", "actor_type", "created_at"]
    search_fields = ["=id", "=object_id", "action", "=actor_id"]
    show_full_result_count = False
    list_per_page = 50

    @admin.display(description="changes")
    def changes_pretty(self, obj: Event) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.changes, indent=2, sort_keys=True, ensure_ascii=False))
