"""A week of synthetic traffic for the demo tenant, so a first look at the console is not empty.

The records go in the way the gateway's own records do: :func:`forensics.recorder.records_insert`
(the record writer's portable path) and then :func:`forensics.sealing.tenant_chain_seal`, which
binds them into the tenant's hash chain and signs checkpoints, so ``manage.py verify_audit``
passes afterwards. Usage rollups are then run by the analytics task, looked up by its Celery name
(the same task the beat schedule runs) and applied in this process once the records are committed.

Deterministic for a given seed and clock: a working-day shape (busier in office hours, quieter at
weekends), a handful of end users with conversations, three models, refusals and upstream errors
in realistic proportions.
"""

from __future__ import annotations

import fnmatch
import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from celery import current_app
from django.db import transaction

from core.ids import new_id
from forensics.recorder import records_insert
from forensics.sealing import SEAL_BATCH, tenant_chain_seal
from providers.pricing import list_price
from providers.selectors import price_list

ROLLUP_TASK = "analytics.tasks.usage_rollup_tenant"
USERS = ("alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com", "erin@example.com")
# (model the client sent, model answered): the alias of the demo and two priced names.
MODELS = (
    ("smart-default", "mock-1", 0.55),
    ("gpt-4o-mini", "gpt-4o-mini", 0.3),
    ("claude-3-5-haiku-latest", None, 0.15),
)
# (status, error code, reason, share of requests)
OUTCOMES = (
    (429, "rate_limited", "requests_per_minute", 0.03),
    (403, "forbidden", "model_not_allowed", 0.015),
    (502, "upstream_error", None, 0.01),
    (400, "guardrail_violation", "blocked_pattern", 0.005),
)
ENDPOINTS = (("chat", 0.8), ("messages", 0.15), ("embeddings", 0.05))
MILLION = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class DemoHistory:
    records: int
    sealed: int


def _hourly_rate(moment: datetime) -> float:
    """Requests an hour: a daytime bump, lower at weekends."""
    daytime = max(0.0, math.sin(math.pi * (moment.hour - 7) / 12)) if 7 <= moment.hour <= 19 else 0.0
    weekend = 0.35 if moment.weekday() >= 5 else 1.0
    return (2 + 22 * daytime) * weekend


def _pick(rng: random.Random, weighted: tuple) -> Any:
    return rng.choices(weighted, weights=[w[-1] for w in weighted])[0]


def _price(prices: list[tuple[str, Decimal, Decimal]], model: str) -> tuple[Decimal, Decimal]:
    """The tenant's own price first, then the published one (as the gateway prices, by the
    provider kind the name belongs to); the demo's own models are free."""
    for pattern, prompt, completion in prices:
        if fnmatch.fnmatchcase(model, pattern):
            return prompt, completion
    listed = list_price("anthropic" if model.startswith("claude") else "openai", model)
    if listed is None:
        return Decimal(0), Decimal(0)
    return Decimal(str(listed.rates.input)), Decimal(str(listed.rates.output))


def demo_records(
    *, tenant_id: str, app_id: str, agent_id: str, key_id: str, provider_id: str, policy_ids: list[str],
    prices: list[tuple[str, Decimal, Decimal]], now: datetime, days: int = 7, seed: int = 7,
) -> list[dict[str, Any]]:  # fmt: skip
    """The records of ``days`` of traffic ending a minute before ``now``, oldest first."""
    rng = random.Random(seed)
    start = (now - timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
    end = now - timedelta(minutes=1)
    records: list[dict[str, Any]] = []
    hour = start
    while hour < end:
        count = max(0, round(rng.gauss(_hourly_rate(hour), 1.5)))
        for _ in range(count):
            created_at = hour + timedelta(seconds=rng.uniform(0, 3600))
            if created_at >= end:
                continue
            ids = (tenant_id, app_id, agent_id, key_id, provider_id)
            records.append(_record(rng, created_at, *ids, policy_ids, prices))
        hour += timedelta(hours=1)
    records.sort(key=lambda r: (r["created_at"], r["id"]))
    return records


def _record(
    rng: random.Random, created_at: datetime, tenant_id: str, app_id: str, agent_id: str, key_id: str,
    provider_id: str, policy_ids: list[str], prices: list[tuple[str, Decimal, Decimal]],
) -> dict[str, Any]:  # fmt: skip
    user = rng.choice(USERS) if rng.random() < 0.9 else None
    requested, resolved, _ = _pick(rng, MODELS)
    resolved = resolved or requested
    endpoint = _pick(rng, ENDPOINTS)[0]
    roll, status, code, reason = rng.random(), 200, None, None
    for outcome in OUTCOMES:
        if roll < outcome[3]:
            status, code, reason = outcome[:3]
            break
        roll -= outcome[3]
    answered = status == 200 or status == 502
    prompt = rng.randint(40, 2400) if status == 200 else 0
    completion = (rng.randint(10, 900) if endpoint != "embeddings" else 0) if status == 200 else 0
    # Log-normal latencies around 400 ms for answers; refusals never leave the gateway.
    latency = rng.lognormvariate(math.log(420), 0.55) if answered else rng.uniform(1.5, 6)
    input_price, output_price = _price(prices, resolved)
    cost = (prompt * input_price + completion * output_price) / MILLION
    conversation = f"conv-{user.split('@')[0]}-{rng.randint(1, 6)}" if user and endpoint != "embeddings" else None
    return {
        "id": new_id("req"), "tenant_id": tenant_id, "created_at": created_at, "client_request_id": None,
        "app_id": app_id, "agent_id": agent_id, "key_id": key_id, "credential": "key", "user": user,
        "identity_source": "header" if user else None, "conversation_id": conversation, "endpoint": endpoint,
        "model_requested": requested, "model_resolved": resolved if status != 403 else None,
        "provider_id": provider_id if answered else None, "stream": endpoint != "embeddings" and rng.random() < 0.4,
        "status_code": status, "error_code": code, "error_reason": reason, "prompt_tokens": prompt,
        "completion_tokens": completion, "cost_usd": cost.quantize(Decimal("0.00000001")),
        "latency_ms": round(latency, 3), "upstream_latency_ms": round(max(latency - 3, 0.5), 3) if answered else None,
        "client_ip": "127.0.0.1", "user_agent": "demo-history/1", "policy_ids": policy_ids, "fail_open": [],
        "request_body": None, "response_body": None,
    }  # fmt: skip


def demo_history_create(
    *, tenant_id: str, app_id: str, agent_id: str, key_id: str, provider_id: str, policy_ids: list[str],
    now: datetime, days: int = 7, seed: int = 7,
) -> DemoHistory:  # fmt: skip
    """Write, seal and roll up ``days`` of synthetic traffic for the tenant; returns the counts."""
    prices = [
        (p.model_pattern, p.input_per_million_usd, p.output_per_million_usd)
        for p in price_list(tenant_id=tenant_id).order_by("-model_pattern")
    ]
    records = demo_records(
        tenant_id=tenant_id, app_id=app_id, agent_id=agent_id, key_id=key_id, provider_id=provider_id,
        policy_ids=policy_ids, prices=prices, now=now, days=days, seed=seed,
    )  # fmt: skip
    records_insert(records)
    sealed = 0
    while (batch := tenant_chain_seal(tenant_id=tenant_id)) == SEAL_BATCH:
        sealed += batch
    sealed += batch
    # Run here, not queued: the dashboard is to be full when the command returns, broker or not.
    rollup = current_app.tasks[ROLLUP_TASK]
    transaction.on_commit(lambda: rollup.apply(args=(tenant_id,), throw=True))
    return DemoHistory(records=len(records), sealed=sealed)
