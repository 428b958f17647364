"""Records made directly (the proxy path has its own tests), and a reference aggregation.

``direct_usage`` is written from the SPEC alone, independently of ``analytics``: the
rollups must agree with it exactly.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from core.ids import new_id
from forensics.models import RequestLog

ERRORS = [(429, "rate_limited", "rpm"), (403, "forbidden", "model_not_allowed"), (502, "upstream_error", None)]


def record(tenant_id: str, created_at: datetime, **fields: Any) -> RequestLog:
    """One record, written now (the way the proxy writes one when its request ends)."""
    values = {
        "id": new_id("req"), "tenant_id": tenant_id, "created_at": created_at, "endpoint": "chat",
        "status_code": 200, "model_requested": "gpt-4o-mini", "model_resolved": "gpt-4o-mini",
        "prompt_tokens": 10, "completion_tokens": 5, "cost_usd": Decimal("0.00000450"), "latency_ms": 120.0,
    }  # fmt: skip
    values.update(fields)
    return RequestLog.objects.create(**values)


def random_record(rng: random.Random, tenant_id: str, start: datetime, span: timedelta, **fields: Any) -> RequestLog:
    failed = rng.random() < 0.25
    status, code, reason = rng.choice(ERRORS) if failed else (200, None, None)
    prompt, completion = (0, 0) if failed else (rng.randint(0, 900), rng.randint(0, 400))
    # "mystery-model" has no price: its answers are recorded unpriced (cost null).
    model = rng.choice(["gpt-4o-mini", "claude-sonnet-4", "smart", "mystery-model"])
    unpriced = model == "mystery-model" and not failed
    values = {
        "app_id": rng.choice(["app_a", "app_b", None]),
        "agent_id": rng.choice(["ag_1", "ag_2", "ag_3"]),
        "user": rng.choice(["ann@example.com", "bob@example.com", "cy@corp.test", None]),
        "model_requested": model,
        "status_code": status,
        "error_code": code,
        "error_reason": reason,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "cost_usd": None if unpriced else Decimal(rng.randint(0, 10**6)) / Decimal(10**8),
        "latency_ms": round(rng.uniform(0.2, 3000.0), 3),
        "conversation_id": rng.choice(["c1", "c2", None]),
    }
    values.update(fields)
    moment = start + timedelta(seconds=rng.uniform(0, span.total_seconds()))
    return record(tenant_id, moment, **values)


def _nearest_rank(values: list[int], q: float) -> int | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def _cost(records: list[RequestLog]) -> float | None:
    """The priced records' sum, or None when records without a price leave nothing of it known."""
    known = sum((r.cost_usd for r in records if r.cost_usd is not None), Decimal(0))
    if not known and any(r.cost_usd is None for r in records):
        return None
    return float(known)


def _totals(records: list[RequestLog]) -> dict[str, Any]:
    latencies = [math.floor(r.latency_ms + 0.5) for r in records]
    prompt = sum(r.prompt_tokens for r in records)
    completion = sum(r.completion_tokens for r in records)
    return {
        "requests": len(records),
        "errors": sum(1 for r in records if r.status_code >= 400),
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "cost_usd": _cost(records),
        "unpriced_requests": sum(1 for r in records if r.cost_usd is None),
        "latency_p50_ms": _nearest_rank(latencies, 0.5),
        "latency_p95_ms": _nearest_rank(latencies, 0.95),
    }


def _key(record: RequestLog, group_by: str) -> str | None:
    if group_by == "day":
        return record.created_at.strftime("%Y-%m-%d")
    if group_by == "hour":
        return record.created_at.strftime("%Y-%m-%dT%H:00:00Z")
    return getattr(record, {"model": "model_requested", "app": "app_id", "agent": "agent_id"}.get(group_by, group_by))


def direct_usage(
    tenant_id: str, since: datetime, until: datetime, group_by: str | None = None, agent_id: str | None = None
) -> dict[str, Any]:
    """What SPEC 5.8 says ``/v1/usage`` answers, straight from the records."""
    records = RequestLog.objects.filter(tenant_id=tenant_id, created_at__gte=since, created_at__lt=until)
    if agent_id:
        records = records.filter(agent_id=agent_id)
    records = list(records)
    groups: dict[Any, list[RequestLog]] = defaultdict(list)
    if group_by:
        for r in records:
            groups[_key(r, group_by)].append(r)
    return {
        "totals": _totals(records),
        "groups": {key: _totals(members) for key, members in groups.items()},
    }


def answered_usage(body: dict[str, Any], group_by: str | None = None) -> dict[str, Any]:
    """An answer of ``/v1/usage`` in the shape of ``direct_usage``."""
    groups = {}
    for group in body["groups"]:
        key = group["key"][group_by]
        groups[key] = {name: value for name, value in group.items() if name != "key"}
    return {"totals": body["totals"], "groups": groups}
