"""The arithmetic shared by rollups and usage answers: one accumulator, one percentile rule.

Rollup rows, SQL aggregates of raw records and single records all fold into
:class:`UsageTotals` with the same sums and the same exact latency histogram, so an answer
made of rows plus the not-yet-rolled tail equals an answer made of records alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from analytics.latency import MEDIAN, P95, LatencyHistogram


def latency_bucket(latency_ms: float) -> int:
    """A latency in whole milliseconds (half up): the resolution of every latency percentile."""
    return math.floor(latency_ms + 0.5)


def is_error(status_code: int) -> bool:
    """A request counts as an error when its answer was 4xx or 5xx (refusals included)."""
    return status_code >= 400


@dataclass
class UsageTotals:
    requests: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # The sum over priced requests; ``unpriced_requests`` used a model without a price.
    cost_usd: Decimal = Decimal(0)
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    unpriced_requests: int = 0

    def add_record(
        self,
        *,
        status_code: int,
        prompt_tokens: int,
        completion_tokens: int,
        cost_usd: Decimal | None,
        latency_ms: float,
    ) -> None:
        self.requests += 1
        self.errors += is_error(status_code)
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens
        if cost_usd is None:
            self.unpriced_requests += 1
        else:
            self.cost_usd += cost_usd
        self.latency.add(latency_bucket(latency_ms))

    def _add_sums(
        self, requests: int, errors: int, prompt_tokens: int, completion_tokens: int, cost: Decimal, unpriced: int
    ) -> None:
        self.requests += requests
        self.errors += errors
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens
        self.cost_usd += cost
        self.unpriced_requests += unpriced

    def add_row(
        self,
        *,
        requests: int,
        errors: int,
        prompt_tokens: int,
        completion_tokens: int,
        cost_usd: Decimal,
        latency_counts: str | None,
        latency_pages: bytes | memoryview | None,
        latency_p50_ms: int | None,
        latency_p95_ms: int | None,
        unpriced_requests: int = 0,
    ) -> None:
        """Add a rollup row; its histogram is decoded only if a percentile needs it."""
        self._add_sums(requests, errors, prompt_tokens, completion_tokens, cost_usd, unpriced_requests)
        self.latency.add_stored(
            requests=requests, counts=latency_counts, pages=latency_pages, p50=latency_p50_ms, p95=latency_p95_ms
        )

    def add_aggregate(
        self,
        *,
        requests: int,
        errors: int,
        prompt_tokens: int,
        completion_tokens: int,
        cost_usd: Decimal,
        counts: str,
        unpriced_requests: int = 0,
    ) -> None:
        """Add records already summed in SQL, with their ``{"<ms>": count}`` histogram."""
        self._add_sums(requests, errors, prompt_tokens, completion_tokens, cost_usd, unpriced_requests)
        self.latency.add_counts(counts, requests=requests)

    def subtract_aggregate(
        self,
        *,
        requests: int,
        errors: int,
        prompt_tokens: int,
        completion_tokens: int,
        cost_usd: Decimal,
        counts: str,
        unpriced_requests: int = 0,
    ) -> None:
        """Take away records summed in SQL that these totals hold (a window's edge read by complement)."""
        self._add_sums(-requests, -errors, -prompt_tokens, -completion_tokens, -cost_usd, -unpriced_requests)
        self.latency.subtract_counts(counts)

    def merge(self, other: UsageTotals) -> None:
        self._add_sums(
            other.requests,
            other.errors,
            other.prompt_tokens,
            other.completion_tokens,
            other.cost_usd,
            other.unpriced_requests,
        )
        self.latency.merge(other.latency)

    @property
    def cost_known(self) -> Decimal | None:
        """The cost, or None when requests without a price left nothing of it known.

        With some requests priced and some not, the sum of the priced ones: a lower bound,
        which ``unpriced_requests`` qualifies. Never a $0 that stands for "unknown".
        """
        if self.unpriced_requests and not self.cost_usd:
            return None
        return self.cost_usd

    def body(self) -> dict[str, Any]:
        """SPEC 5.8's ``T``, and ``unpriced_requests``. Cost is a JSON number in USD (8 decimal
        places at most), null when nothing of it is known (``cost_known``)."""
        cost = self.cost_known
        p50, p95 = self.latency.percentiles([MEDIAN, P95])
        return {
            "requests": self.requests,
            "errors": self.errors,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "cost_usd": float(round(cost, 8)) if cost is not None else None,
            "unpriced_requests": self.unpriced_requests,
            "latency_p50_ms": p50,
            "latency_p95_ms": p95,
        }
