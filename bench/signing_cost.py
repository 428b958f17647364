"""What the signed agent identity (SPEC 3.10) costs a request's CPU, read from A/B rounds.

The same request, to a provider that gets ``X-Agent-Identity`` (``chat``) and to one with
``send_agent_identity`` off (``chat-unsigned``), in alternating rounds on the same gateway
processes: A B, B A, A B, … so that a drift of the host during the phase falls on both alike.
Each round pair gives a ratio of CPU a request (the gateway's processes only: the Celery
worker's sealing and rollups do not sign, and their batches would only add noise); the median
ratio is the figure, and the pooled one (all CPU over all requests, each side) is beside it.

A second, noise-free figure comes from the signature alone: the time one token takes in a
loop (``bench.signature_time``), over the CPU a signed request took in the same run.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

TARGET_PCT = 5.0


@dataclass(frozen=True)
class Round:
    """One A/B pair: CPU a request (ms) and requests, signed and unsigned."""

    signed_cpu_ms: float
    signed_requests: int
    unsigned_cpu_ms: float
    unsigned_requests: int

    @property
    def ratio(self) -> float:
        return self.signed_cpu_ms / self.unsigned_cpu_ms


def signing_summary(rounds: list[Round], *, token_us: float | None = None) -> dict[str, Any]:
    """The share of a signed request's CPU that signing takes, as percentages (median of the
    rounds, pooled, and from the signature's own time when given), with the target."""
    if not rounds or any(r.unsigned_cpu_ms <= 0 or r.signed_cpu_ms <= 0 for r in rounds):
        return {"rounds": len(rounds), "reason": "no usable round"}
    ratios = [r.ratio for r in rounds]
    signed_cpu = sum(r.signed_cpu_ms * r.signed_requests for r in rounds) / sum(r.signed_requests for r in rounds)
    unsigned_cpu = sum(r.unsigned_cpu_ms * r.unsigned_requests for r in rounds) / sum(
        r.unsigned_requests for r in rounds
    )
    median = statistics.median(ratios)
    # Signing's share of a signed request: (signed - unsigned) / signed = 1 - 1/ratio.
    summary: dict[str, Any] = {
        "rounds": len(rounds),
        "ratios": [round(x, 4) for x in ratios],
        "signed_cpu_ms": round(signed_cpu, 4),
        "unsigned_cpu_ms": round(unsigned_cpu, 4),
        "signing_cpu_pct": round((1 - 1 / median) * 100, 2),
        "signing_cpu_pct_pooled": round((1 - unsigned_cpu / signed_cpu) * 100, 2),
        "target_pct": TARGET_PCT,
    }
    if token_us is not None:
        summary["token_us"] = round(token_us, 2)
        summary["signing_cpu_pct_from_token"] = round(token_us / (signed_cpu * 1000) * 100, 2)
    return summary
