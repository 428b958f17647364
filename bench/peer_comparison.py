"""The peers phase's figures: aidgate over Portkey's gateway and over the bare passthrough.

Each round runs the three one-process targets one after the other at the same connections
(``bench/run_bench.py``'s peers phase); a ratio is taken within a round, where the machine's
state is the most alike, and the figure is the median of the rounds' ratios.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from bench.wrk_load import LoadResult

AIDGATE, BARE, PORTKEY = "aidgate", "bare", "portkey"


def round_ratios(runs: list[LoadResult], numerator: str, denominator: str, field: str) -> list[float]:
    """Per round (``repeat``) holding both targets: the numerator's ``field`` over the denominator's.

    A round where either value is missing or the denominator is zero (a target that served
    nothing) gives no ratio rather than an infinite one.
    """
    by_round: dict[int, dict[str, LoadResult]] = {}
    for run in runs:
        by_round.setdefault(run.repeat, {})[run.target] = run
    ratios = []
    for repeat in sorted(by_round):
        pair = by_round[repeat]
        if numerator not in pair or denominator not in pair:
            continue
        top, bottom = getattr(pair[numerator], field), getattr(pair[denominator], field)
        if top is None or not bottom:
            continue
        ratios.append(round(top / bottom, 4))
    return ratios


def median_or_nan(values: list[float]) -> float:
    return round(statistics.median(values), 3) if values else math.nan


def peer_summary(runs: list[LoadResult]) -> dict[str, Any]:
    """``portkey_throughput_ratio``: aidgate's requests a second over Portkey's;
    ``feature_cost_ratio``: aidgate's CPU a request over the bare passthrough's. Each is the
    median of its rounds' ratios (``nan`` when no round holds both targets); the rounds' own
    ratios are kept beside it."""
    throughput = round_ratios(runs, AIDGATE, PORTKEY, "throughput_rps")
    cost = round_ratios(runs, AIDGATE, BARE, "cpu_ms_per_request")
    bare_throughput = round_ratios(runs, AIDGATE, BARE, "throughput_rps")
    return {
        "portkey_throughput_ratio": median_or_nan(throughput),
        "portkey_throughput_ratio_each": throughput,
        "feature_cost_ratio": median_or_nan(cost),
        "feature_cost_ratio_each": cost,
        "bare_throughput_ratio": median_or_nan(bare_throughput),
        "bare_throughput_ratio_each": bare_throughput,
    }


def ttfb_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per concurrency of the streams phase: aidgate's time to first byte over the bare
    passthrough's (p50 and p99); the target is at most 1.5."""
    by_concurrency: dict[int, dict[str, dict[str, Any]]] = {}
    for row in rows:
        by_concurrency.setdefault(row["concurrency"], {})[row["target"]] = row
    found = []
    for concurrency in sorted(by_concurrency):
        targets = by_concurrency[concurrency]
        if AIDGATE not in targets or BARE not in targets:
            continue
        ours, bare = targets[AIDGATE], targets[BARE]
        found.append(
            {
                "concurrency": concurrency,
                "aidgate_ttfb_p50_ms": ours["ttfb_p50_ms"],
                "bare_ttfb_p50_ms": bare["ttfb_p50_ms"],
                "ttfb_p50_ratio": _ratio(ours["ttfb_p50_ms"], bare["ttfb_p50_ms"]),
                "ttfb_p99_ratio": _ratio(ours["ttfb_p99_ms"], bare["ttfb_p99_ms"]),
            }
        )
    return found


def _ratio(top: float | None, bottom: float | None) -> float | None:
    return round(top / bottom, 3) if top is not None and bottom else None
