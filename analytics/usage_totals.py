"""The arithmetic shared by rollups and usage answers: one accumulator, one percentile rule.

Both a rollup row and a raw record are folded into :class:`UsageTotals` the same way, so an
answer made of rows plus the not-yet-rolled tail equals an answer made of records alone.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


def latency_bucket(latency_ms: float) -> int:
    """A latency in whole milliseconds (half up): the resolution of every latency percentile."""
    return math.floor(latency_ms + 0.5)


def percentile(histogram: Counter[int], q: float) -> int | None:
    """Nearest-rank percentile: the smallest value with at least ``ceil(q * n)`` values at or below it."""
    n = sum(histogram.values())
    if n == 0:
        return None
    rank = max(1, math.ceil(q * n))
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return value
    raise AssertionError("unreachable: the ranks add up to n")


def is_error(status_code: int) -> bool:
    """A request counts as an error when its answer was 4xx or 5xx (refusals included)."""
    return status_code >= 400


@dataclass
class UsageTotals:
    requests: int = 0
    errors: int = 0
    errors_by_code: Counter[str] = field(default_factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    latency: Counter[int] = field(default_factory=Counter)

    def add_record(
        self,
        *,
        status_code: int,
        error_code: str | None,
        prompt_tokens: int,
        completion_tokens: int,
        cost_usd: Decimal,
        latency_ms: float,
    ) -> None:
        self.requests += 1
        if is_error(status_code):
            self.errors += 1
            self.errors_by_code[error_code or str(status_code)] += 1
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens
        self.cost_usd += cost_usd
        self.latency[latency_bucket(latency_ms)] += 1

    def add_rollup(
        self,
        *,
        requests: int,
        errors: int,
        errors_by_code: dict[str, int],
        prompt_tokens: int,
        completion_tokens: int,
        cost_usd: Decimal,
        latency_histogram: dict[str, int],
    ) -> None:
        self.requests += requests
        self.errors += errors
        self.errors_by_code.update(errors_by_code)
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens
        self.cost_usd += cost_usd
        self.latency.update({int(k): v for k, v in latency_histogram.items()})

    def merge(self, other: UsageTotals) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.errors_by_code.update(other.errors_by_code)
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.cost_usd += other.cost_usd
        self.latency.update(other.latency)

    def rollup_fields(self) -> dict[str, Any]:
        """The columns of a :class:`analytics.models.UsageRollup` row holding these totals."""
        return {
            "requests": self.requests,
            "errors": self.errors,
            "errors_by_code": dict(sorted(self.errors_by_code.items())),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": self.cost_usd,
            "latency_histogram": {str(k): v for k, v in sorted(self.latency.items())},
        }

    def body(self) -> dict[str, Any]:
        """SPEC 5.8's ``T``. Cost is a JSON number in USD (8 decimal places at most)."""
        return {
            "requests": self.requests,
            "errors": self.errors,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "cost_usd": float(round(self.cost_usd, 8)),
            "latency_p50_ms": percentile(self.latency, 0.50),
            "latency_p95_ms": percentile(self.latency, 0.95),
        }
