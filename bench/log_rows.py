"""Synthetic forensic records for the logs-at-scale bench, as COPY text, generated in time order.

Rows come out oldest first, as a live gateway appends them, so the table's physical order
follows ``created_at`` the way it does in production (this matters to index scans).
The shape: one large tenant (the bench tenant) and a tail of smaller ones; skewed models
and statuses, so that filters on rare values are measured as well as common ones.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

COLUMNS = (
    "id", "tenant_id", "created_at", "client_request_id", "app_id", "agent_id", "key_id", "credential", "user",
    "identity_source", "conversation_id", "endpoint", "model_requested", "model_resolved", "provider_id", "stream",
    "status_code", "error_code", "error_reason", "prompt_tokens", "completion_tokens", "cost_usd", "latency_ms",
    "upstream_latency_ms", "client_ip", "user_agent", "policy_ids", "fail_open", "request_body", "response_body",
    "seq", "prev_hash", "chain_hash", "sealed_at",
)  # fmt: skip

MODELS: tuple[tuple[str, float], ...] = (
    ("gpt-4o-mini", 45.0),
    ("gpt-4o", 20.0),
    ("claude-sonnet-4", 12.0),
    ("gemini-2.5-flash", 10.0),
    ("text-embedding-3-small", 8.0),
    ("mistral-small", 4.0),
    ("o3-mini", 0.9),
    ("command-r", 0.1),
)
STATUSES: tuple[tuple[int, str, str, float], ...] = (
    (200, "", "", 95.5),
    (429, "rate_limited", "requests_per_minute", 2.5),
    (400, "guardrail_violation", "pii_email", 1.0),
    (403, "forbidden", "model_not_allowed", 0.5),
    (502, "upstream_error", "upstream_unreachable", 0.4),
    (401, "unauthorized", "invalid_key", 0.1),
)
RARE_MODEL = "command-r"
COMMON_MODEL = "gpt-4o"
RARE_STATUS = 401
UNCOMMON_STATUS = 502
BENCH_TENANT_SHARE = 0.8
OTHER_TENANTS = 20
USERS = 2000
AGENTS = 50
CONVERSATIONS = 200_000
DAYS = 30
NULL = "\\N"


@dataclass(frozen=True, slots=True)
class LogShape:
    tenant_id: str
    app_id: str
    agent_id: str
    provider_id: str
    policy_id: str
    rows: int

    def agent_ids(self) -> list[str]:
        """The real seeded agent is one of the bench tenant's agents (its logs endpoint works)."""
        return [self.agent_id] + [f"ag_bench{n:08d}" for n in range(1, AGENTS)]

    @staticmethod
    def user(index: int) -> str:
        return f"user{index:05d}@example.com"


def _timestamps(base: float, step: float, first: int, count: int) -> list[str]:
    """``YYYY-MM-DD HH:MM:SS.ffffff+00`` of rows ``first…first+count``; strftime once a second."""
    texts, last_second, prefix = [], -1, ""
    for row in range(first, first + count):
        at = base + row * step
        second = int(at)
        if second != last_second:
            prefix, last_second = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second)), second
        texts.append(f"{prefix}.{int((at - second) * 1e6):06d}+00")
    return texts


OTHER_TENANT_IDS = tuple(f"tnt_benchother{t:05d}" for t in range(OTHER_TENANTS))
_BENCH_SHARE_BOUND = int(BENCH_TENANT_SHARE * 2**32)


def tenant_slot(row: int) -> int:
    """The tenant of row ``row``: -1 for the bench tenant (``BENCH_TENANT_SHARE`` of the rows),
    else an index into ``OTHER_TENANT_IDS``.

    A function of the row number (a multiplicative hash), not of the random stream, so that
    the rows of any range can be counted per tenant without generating them: a load split in
    ranges loaded side by side then numbers each tenant's chain positions on without a gap.
    """
    mixed = (row * 0x9E3779B1) & 0xFFFFFFFF
    return -1 if mixed < _BENCH_SHARE_BOUND else (mixed >> 8) % OTHER_TENANTS


def tenant_counts(shape: LogShape, first: int, count: int) -> dict[str, int]:
    """How many of rows ``first … first + count`` belong to each tenant."""
    slots = Counter(tenant_slot(row) for row in range(first, first + count))
    return {(shape.tenant_id if slot < 0 else OTHER_TENANT_IDS[slot]): n for slot, n in slots.items()}


def log_rows(
    shape: LogShape,
    heads: dict[str, int],
    *,
    end: datetime | None = None,
    batch: int = 50_000,
    first_row: int = 0,
    part: tuple[int, int] | None = None,
) -> Iterator[bytes]:
    """COPY text (tab-separated, ``\\N`` for null), ``batch`` rows per chunk.

    ``shape.rows`` rows spread over the last ``DAYS`` days, numbered from ``first_row``: a
    second load onto a first makes the same days denser, as a busier installation's would be.
    ``part=(start, count)`` generates only those rows of the load (``heads`` then holds each
    tenant's chain head before ``start``; see :func:`tenant_counts`).

    Rows are sealed: each tenant's ``seq`` continues from ``heads[tenant]`` (updated in
    place, so the caller can move the chain heads after the load), as the sealer would number
    them. Chain hashes are left empty: the audit verification is not what is measured here.
    """
    start, count = part if part is not None else (0, shape.rows)
    rng = random.Random(12 + first_row + start)  # reproducible synthetic data, not secrets
    end = end or datetime.now(UTC)
    base = (end - timedelta(days=DAYS)).timestamp()
    step = DAYS * 86_400 / max(1, shape.rows)
    bench_agents = shape.agent_ids()
    others = OTHER_TENANT_IDS
    for tenant in (shape.tenant_id, *others):
        heads.setdefault(tenant, 0)
    # A user mostly works through "their" agent, as people do; None is a request without identity.
    users = [(f"{LogShape.user(n)}\theader", bench_agents[n % AGENTS]) for n in range(USERS)]
    conversations = [f"conv_{n:07d}" for n in range(CONVERSATIONS)]
    model_rows = {m: ("embeddings" if m == "text-embedding-3-small" else "chat", f"{m}\t{m}") for m, _ in MODELS}
    model_names = [m for m, _ in MODELS]
    model_weights = [w for _, w in MODELS]
    outcomes = [(code, f"{code}\t{err or NULL}\t{reason or NULL}") for code, err, reason, _ in STATUSES]
    outcome_weights = [w for *_, w in STATUSES]
    policy_json = f'["{shape.policy_id}"]'
    anonymous = f"{NULL}\t{NULL}"
    written, stop = start, start + count
    while written < stop:
        n = min(batch, stop - written)
        stamps = _timestamps(base, step, written, n)
        picked_models = rng.choices(model_names, model_weights, k=n)
        picked_outcomes = rng.choices(outcomes, outcome_weights, k=n)
        picked_conversations = rng.choices(conversations, k=n)
        picked_users = rng.choices(users, k=n)
        picked_agents = rng.choices(bench_agents, k=n)
        randoms = [rng.random() for _ in range(n)]
        lines = []
        for i in range(n):
            row = first_row + written + i
            r = randoms[i]
            user_text, agent = picked_users[i]
            slot = tenant_slot(row)
            if slot < 0:
                tenant, app, provider = shape.tenant_id, shape.app_id, shape.provider_id
                if row % 20 < 3:
                    agent = picked_agents[i]
            else:
                tenant = others[slot]
                app, agent, provider = f"app_{tenant[4:]}", f"ag_{tenant[4:]}{row % 20:03d}", "prv_other"
            if row % 10 == 9:
                user_text = anonymous
            heads[tenant] += 1
            model = picked_models[i]
            endpoint, model_text = model_rows[model]
            code, outcome_text = picked_outcomes[i]
            conversation = picked_conversations[i] if row % 10 < 3 else NULL
            if code == 200:
                prompt = 20 + (row * 7919) % 1980
                completion = 0 if endpoint == "embeddings" else (row * 104_729) % 800
                latency = 150.0 + r * 4000.0
                upstream = f"{latency - 0.9:.3f}"
            else:
                prompt = completion = 0
                latency = 0.5 + r * 4.5
                upstream = NULL
            stamp = stamps[i]
            lines.append(
                f"req_bench{row:011d}\t{tenant}\t{stamp}\t{NULL}\t{app}\t{agent}\tkey_bench\tkey\t{user_text}\t"
                f"{conversation}\t{endpoint}\t{model_text}\t{provider}\t{'t' if row % 3 == 0 else 'f'}\t"
                f"{outcome_text}\t{prompt}\t{completion}\t{(prompt * 0.15 + completion * 0.6) / 1e6:.8f}\t"
                f"{latency:.3f}\t{upstream}\t10.0.{row % 250}.{row % 200}\tbench/1.0\t{policy_json}\t[]\t"
                f"{NULL}\t{NULL}\t{heads[tenant]}\t{NULL}\t{NULL}\t{stamp}\n"
            )
        written += n
        yield "".join(lines).encode()
