"""Latency histograms (analytics.latency): exact nearest-rank percentiles through every encoding
and merge, dense pages and pairs, and counts past 2**32."""

from __future__ import annotations

import json
import math
import random
from collections import Counter

import pytest

from analytics.latency import PAGE, LatencyHistogram


def nearest_rank(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def stored(counts: Counter[int]) -> LatencyHistogram:
    """``counts`` as a rollup row built from rows holds them: encoded, then read back."""
    histogram = LatencyHistogram()
    for ms, count in counts.items():
        histogram.add(ms, count)
    counts_json, pages, _, _ = histogram.encode()
    row = LatencyHistogram()
    row.add_stored(requests=sum(counts.values()), counts=counts_json, pages=pages, p50=None, p95=None)
    return row


@pytest.mark.parametrize("seed", range(6))
def test_it_answers_the_nearest_rank_of_merged_rows_of_every_encoding(seed):
    rng = random.Random(seed)
    values: list[int] = []
    merged = LatencyHistogram()
    for _ in range(rng.randint(1, 6)):
        # Dense bodies, sparse tails and single far outliers, as request latencies come.
        part = [int(rng.uniform(100, 100 + rng.choice([50, 3000]))) for _ in range(rng.randint(1, 3000))]
        part += [rng.randint(0, 5) for _ in range(rng.randint(0, 30))] + [rng.randint(60_000, 900_000)]
        values += part
        counts = Counter(part)
        if rng.random() < 0.5:
            merged.merge(stored(counts))
        else:
            merged.add_counts(json.dumps({str(ms): n for ms, n in counts.items()}), requests=len(part))

    assert merged.counts() == dict(sorted(Counter(values).items()))
    for q in (0.5, 0.95, 0.99, 0.001, 1):
        assert merged.percentile(q) == nearest_rank(values, q), q


def test_it_stores_the_percentiles_of_what_it_encodes():
    values = [3, 3, 150, 151, 2000, 70_000] * 40 + list(range(400, 1400))
    histogram = LatencyHistogram()
    for ms in values:
        histogram.add(ms)

    _, _, p50, p95 = histogram.encode()

    assert (p50, p95) == (nearest_rank(values, 0.5), nearest_rank(values, 0.95))


def test_it_keeps_a_small_histogram_as_json_and_a_large_one_in_pages():
    small, large = LatencyHistogram(), LatencyHistogram()
    for ms in range(100):
        small.add(ms * 700)
    for ms in range(5000):
        large.add(ms)

    assert (small.encode()[0][:9], small.encode()[1]) == ('{"0":1,"7', None)
    assert (large.encode()[0], large.encode()[1][:2]) == ("", b"\x78\x9c")  # zlib


def test_it_keeps_a_page_with_many_values_dense_and_a_few_values_as_pairs():
    crowded = stored(Counter({ms: 3 for ms in range(PAGE, 2 * PAGE)}))
    few = stored(Counter({7: 1, 5 * PAGE + 1: 2, **{ms: 1 for ms in range(10 * PAGE, 10 * PAGE + 600, 2)}}))

    assert (len(crowded._pages), len(crowded._sparse)) == (0, 0)  # not decoded until needed
    crowded._decode()
    few._decode()
    assert (list(crowded._pages), crowded._sparse) == ([1], {})
    assert (list(few._pages), sorted(few._sparse)[:2]) == ([10], [7, 5 * PAGE + 1])


def test_it_adds_counts_past_2_to_the_32_without_a_carry_into_the_next_millisecond():
    huge = Counter({ms: 2**32 - 1 for ms in range(200, 400)})
    merged = stored(huge)
    merged.merge(stored(huge))
    merged.merge(stored(Counter({201: 5})))

    counts = merged.counts()
    assert (counts[200], counts[201], counts[399], len(counts)) == (2**33 - 2, 2**33 + 3, 2**33 - 2, 200)
    assert merged.percentile(0.5) == 299


def test_it_answers_a_single_rows_stored_percentiles_without_decoding_it():
    row = LatencyHistogram()
    row.add_stored(requests=2, counts="not decoded", pages=None, p50=120, p95=480)

    assert (row.percentile(0.5), row.percentile(0.95)) == (120, 480)
    row.add(1)
    with pytest.raises(json.JSONDecodeError):
        row.percentile(0.5)


def test_it_answers_null_without_requests():
    assert LatencyHistogram().percentiles([0.5, 0.95]) == [None, None]
    assert LatencyHistogram().percentile(0.5) is None
    histogram = LatencyHistogram()
    histogram.add(3, 2)
    histogram.add(9)
    assert histogram.percentile(0.95) == 9
