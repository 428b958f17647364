"""Usage rollups (SPEC 5.8): equal to a direct aggregation of the records, whatever the order
of writes, seals, rollup runs and rebuilds — re-runs and out-of-order runs included — at every
span of block, open or closed, and for every grouping."""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from django.db.models import Max, Q
from django.utils import timezone

from analytics import selectors, tasks
from analytics.api.serializers import usage_body
from analytics.buckets import BREAKDOWN_SPANS, OPEN_HOURS, open_hours_from, window_cover
from analytics.latency import LatencyHistogram
from analytics.models import Breakdown, UsageRollup, UsageRollupState
from analytics.selectors import GROUP_BY, usage_summary
from analytics.services import _rollup_batch, usage_rollup, usage_rollup_due, usage_rollup_rebuild
from forensics.models import RequestLog
from forensics.sealing import tenant_chain_seal
from tests import factories
from tests.analytics.support import answered_usage, direct_usage, random_record, record

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 1, 22, 17, tzinfo=UTC)
SPAN = timedelta(hours=52)
CASES = 12
STEPS = 8


def assert_exact(tenant_id: str, rng: random.Random, *, thorough: bool = False) -> None:
    """The whole span or a window cut mid-hour at both ends, for the owner or one agent.

    Between steps a few groupings are drawn; ``thorough`` checks every grouping of both windows.
    """
    cut_since = START + timedelta(minutes=rng.randint(1, 40 * 60))
    cut_until = cut_since + timedelta(minutes=rng.randint(1, 30 * 60))
    windows = [(START - timedelta(days=1), START + SPAN + timedelta(days=1)), (cut_since, cut_until)]
    groupings = [None, *GROUP_BY]
    if not thorough:
        windows = [rng.choice(windows)]
        groupings = [None, *rng.sample(GROUP_BY, 2)]
    for since, until in windows:
        for group_by in groupings:
            agent_id = rng.choice([None, "ag_2"])
            summary = usage_summary(tenant_id=tenant_id, since=since, until=until, group_by=group_by, agent_id=agent_id)
            expected = direct_usage(tenant_id, since, until, group_by, agent_id)
            assert answered_usage(usage_body(summary), group_by) == expected, (group_by, since, until, agent_id)


CELL_RECORDS = {
    Breakdown.TOTAL: (None, None),
    Breakdown.MODEL: (None, "model_requested"),
    Breakdown.APP: (None, "app_id"),
    Breakdown.AGENT: ("agent_id", None),
    Breakdown.AGENT_MODEL: ("agent_id", "model_requested"),
    Breakdown.AGENT_APP: ("agent_id", "app_id"),
    Breakdown.USER: (None, "user"),
}


WITHOUT_PERCENTILES = {
    (Breakdown.MODEL, 1), (Breakdown.APP, 1), (Breakdown.AGENT_MODEL, 1), (Breakdown.AGENT_APP, 1),
    (Breakdown.AGENT_MODEL, 8), (Breakdown.AGENT_APP, 8), (Breakdown.USER, 24),
}  # fmt: skip


def _absent_or(column: str, value: str) -> Q:
    return Q(**{column: value}) if value else Q(**{f"{column}__isnull": True}) | Q(**{column: ""})


def assert_rows_are_records(tenant_id: str) -> None:
    """Each row holds exactly its block's and cell's records up to the row's ``through_seq``;
    agents by model or app have hour rows only in 8-hour blocks still open."""
    state = UsageRollupState.objects.filter(tenant_id=tenant_id).first()
    hours_from = open_hours_from(state.closed_until if state else None)
    for row in UsageRollup.objects.filter(tenant_id=tenant_id):
        if row.breakdown in OPEN_HOURS and row.span == 1:
            assert row.bucket_start >= hours_from, (row.breakdown, row.bucket_start, hours_from)
        records = RequestLog.objects.filter(
            tenant_id=tenant_id, created_at__gte=row.bucket_start,
            created_at__lt=row.bucket_start + timedelta(hours=row.span), seq__lte=row.through_seq,
        )  # fmt: skip
        agent_column, value_column = CELL_RECORDS[row.breakdown]
        if agent_column:
            records = records.filter(_absent_or(agent_column, row.agent_id))
        if value_column:
            records = records.filter(_absent_or(value_column, row.value))
        records = list(records)
        latencies = sorted(math.floor(r.latency_ms + 0.5) for r in records)
        histogram = LatencyHistogram()
        histogram.add_stored(
            requests=row.requests, counts=row.latency_counts, pages=row.latency_pages, p50=None, p95=None
        )
        where = (row.breakdown, row.span, row.bucket_start, row.agent_id, row.value)
        assert row.requests == len(records) > 0, where
        assert row.errors == sum(r.status_code >= 400 for r in records), where
        assert row.prompt_tokens == sum(r.prompt_tokens for r in records), where
        assert row.cost_usd == sum((r.cost_usd for r in records if r.cost_usd is not None), Decimal(0)), where
        assert row.unpriced_requests == sum(r.cost_usd is None for r in records), where
        assert histogram.counts() == dict(Counter(latencies)), where
        if row.latency_p50_ms is None:  # rows built from records that no time group reads alone
            assert (row.breakdown, row.span) in WITHOUT_PERCENTILES, where
            continue
        assert (row.latency_p50_ms, row.latency_p95_ms) == (
            latencies[math.ceil(len(latencies) / 2) - 1],
            latencies[math.ceil(len(latencies) * 0.95) - 1],
        ), where


def random_step(rng: random.Random, tenant_id: str) -> None:
    step = rng.choice(["write", "write_late", "seal", "rollup", "rollup_to", "rerun", "rebuild"])
    if step == "write":
        for _ in range(rng.randint(1, 12)):
            random_record(rng, tenant_id, START, SPAN)
    elif step == "write_late":
        # A long stream: its record carries its start time, hours into already rolled blocks.
        random_record(rng, tenant_id, START, timedelta(hours=3))
    elif step == "seal":
        tenant_chain_seal(tenant_id=tenant_id, batch=rng.randint(1, 30))
    elif step == "rollup":
        usage_rollup(tenant_id=tenant_id, batch=rng.randint(1, 40))
    elif step == "rollup_to":
        # Out of order: a run told to stop before, at or after the current watermark.
        top = RequestLog.objects.filter(tenant_id=tenant_id).aggregate(m=Max("seq"))["m"] or 0
        usage_rollup(tenant_id=tenant_id, through_seq=rng.randint(0, top + 2))
    elif step == "rerun":
        state = UsageRollupState.objects.filter(tenant_id=tenant_id).first()
        usage_rollup(tenant_id=tenant_id, through_seq=state.through_seq if state else 0)
    else:
        since = START + timedelta(hours=rng.randint(0, 50))
        usage_rollup_rebuild(tenant_id=tenant_id, since=since, until=since + timedelta(hours=rng.randint(1, 30)))


@pytest.mark.parametrize("seed", range(CASES))
def test_it_keeps_rollups_equal_to_the_records_under_random_traffic_and_runs(seed, clock):
    rng = random.Random(seed)
    # Half the cases run with the clock inside the traffic: the blocks of its last hours and
    # days are still open (hours only), the earlier ones closed (every span).
    clock(START + SPAN - timedelta(hours=rng.randint(1, 30)) if seed % 2 else datetime(2026, 6, 1, tzinfo=UTC))
    tenant = factories.make_tenant()
    for _ in range(rng.randint(5, 25)):
        random_record(rng, tenant.id, START, SPAN)
    for _ in range(STEPS):
        random_step(rng, tenant.id)
        assert_exact(tenant.id, rng)
    assert_exact(tenant.id, rng, thorough=True)
    assert_rows_are_records(tenant.id)


def rows(tenant_id: str, breakdown: str = Breakdown.TOTAL, **filters) -> list[UsageRollup]:
    return list(UsageRollup.objects.filter(tenant_id=tenant_id, breakdown=breakdown, **filters).order_by("span"))


@pytest.fixture
def clock(monkeypatch):
    """Set the wall clock the rollups close their blocks by."""

    def set_to(moment: datetime) -> None:
        monkeypatch.setattr(timezone, "now", lambda: moment)

    return set_to


def test_it_counts_nothing_twice_when_a_run_is_repeated(tenant):
    for minute in range(5):
        record(tenant.id, START + timedelta(minutes=minute))
    tenant_chain_seal(tenant_id=tenant.id)

    assert usage_rollup(tenant_id=tenant.id) == 5
    before = sorted(UsageRollup.objects.filter(tenant_id=tenant.id).values_list(
        "breakdown", "span", "bucket_start", "agent_id", "value", "requests", "latency_counts", "latency_pages",
        "through_seq",
    ))  # fmt: skip
    assert usage_rollup(tenant_id=tenant.id) == 0
    usage_rollup_rebuild(tenant_id=tenant.id, since=START, until=START + timedelta(days=1))

    after = sorted(UsageRollup.objects.filter(tenant_id=tenant.id).values_list(
        "breakdown", "span", "bucket_start", "agent_id", "value", "requests", "latency_counts", "latency_pages",
        "through_seq",
    ))  # fmt: skip
    assert [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in after] == [
        tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in before
    ]
    assert [(row.span, row.requests, row.through_seq) for row in rows(tenant.id)] == [
        (span, 5, 5) for span in (1, 2, 4, 8, 24, 48, 96, 192, 384, 768)
    ]


def test_it_does_nothing_for_a_run_behind_the_watermark(tenant):
    for minute in range(3):
        record(tenant.id, START + timedelta(minutes=minute))
    tenant_chain_seal(tenant_id=tenant.id)
    usage_rollup(tenant_id=tenant.id)

    assert usage_rollup(tenant_id=tenant.id, through_seq=1) == 0
    assert rows(tenant.id, span=1)[0].requests == 3


def test_it_folds_a_late_record_into_its_old_hour_and_the_closed_blocks_above_it(tenant, clock):
    clock(START + timedelta(days=3))
    record(tenant.id, START)
    tenant_chain_seal(tenant_id=tenant.id)
    usage_rollup(tenant_id=tenant.id)
    record(tenant.id, START + timedelta(minutes=5), prompt_tokens=7)  # written long after it started
    tenant_chain_seal(tenant_id=tenant.id)

    usage_rollup(tenant_id=tenant.id)

    # The blocks of 8 days and more that hold START are still open on 2026-03-04.
    assert {(row.span, row.requests, row.prompt_tokens, row.through_seq) for row in rows(tenant.id)} == {
        (span, 2, 17, 2) for span in (1, 2, 4, 8, 24, 48, 96)
    }


def test_it_builds_coarser_blocks_only_once_their_time_is_over(tenant, clock):
    record(tenant.id, START, user="ann@example.com", agent_id="ag_1")
    tenant_chain_seal(tenant_id=tenant.id)
    clock(START + timedelta(minutes=30))
    usage_rollup(tenant_id=tenant.id)
    open_spans = {(row.breakdown, row.span) for row in UsageRollup.objects.filter(tenant_id=tenant.id)}

    clock(START + timedelta(days=40))
    record(tenant.id, START + timedelta(days=40), user="ann@example.com", agent_id="ag_1")
    tenant_chain_seal(tenant_id=tenant.id)
    usage_rollup(tenant_id=tenant.id)

    assert open_spans == {(breakdown, 1) for breakdown in ("total", "model", "app", "agent", *OPEN_HOURS)}
    assert sorted(row.span for row in rows(tenant.id) if row.bucket_start <= START) == [
        1, 2, 4, 8, 24, 48, 96, 192, 384, 768
    ]  # fmt: skip
    assert [(row.span, row.value) for row in rows(tenant.id, Breakdown.USER)] == [(24, "ann@example.com")]
    assert {row.span for row in rows(tenant.id, Breakdown.AGENT_MODEL) if row.bucket_start <= START} == {
        8, 24, 48, 96, 192, 384, 768
    }  # fmt: skip


def test_it_keeps_hour_rows_per_agent_and_model_or_app_only_while_their_8_hours_are_open(tenant, clock):
    """None per end user at all; per agent and model or app while the 8-hour block is open."""
    for user in ("ann@example.com", "bob@example.com", "cy@corp.test"):
        record(tenant.id, START, user=user, agent_id="ag_1", model_requested="m1")
        record(tenant.id, START, user=user, agent_id="ag_2", model_requested="m2")
    tenant_chain_seal(tenant_id=tenant.id)
    clock(START + timedelta(hours=1))  # 23:17, in the open block [16:00, 24:00)
    usage_rollup(tenant_id=tenant.id)
    hours = UsageRollup.objects.filter(tenant_id=tenant.id, span=1)
    open_cells = sorted(hours.values_list("breakdown", "agent_id", "value"))

    clock(START + timedelta(hours=2))  # the block has closed: its hours of agents go
    record(tenant.id, START + timedelta(hours=1), agent_id="ag_1", model_requested="m1")
    tenant_chain_seal(tenant_id=tenant.id)
    usage_rollup(tenant_id=tenant.id)

    assert open_cells == [
        ("agent", "ag_1", ""), ("agent", "ag_2", ""), ("agent_app", "ag_1", ""), ("agent_app", "ag_2", ""),
        ("agent_model", "ag_1", "m1"), ("agent_model", "ag_2", "m2"), ("app", "", ""), ("model", "", "m1"),
        ("model", "", "m2"), ("total", "", ""),
    ]  # fmt: skip
    assert not hours.filter(breakdown__in=[*OPEN_HOURS, Breakdown.USER]).exists()
    agent_model_spans = {row.span for row in rows(tenant.id, Breakdown.AGENT_MODEL)}
    assert 8 in agent_model_spans
    assert 1 not in agent_model_spans
    assert_rows_are_records(tenant.id)


def test_it_keeps_latencies_as_a_whole_millisecond_histogram(tenant):
    for latency in (10.4, 10.5, 99.0):
        record(tenant.id, START, latency_ms=latency)
    tenant_chain_seal(tenant_id=tenant.id)
    usage_rollup(tenant_id=tenant.id)

    hour, day = rows(tenant.id, span__in=[1, 24])
    assert json.loads(hour.latency_counts) == json.loads(day.latency_counts) == {"10": 1, "11": 1, "99": 1}
    assert (hour.latency_p50_ms, hour.latency_p95_ms, day.latency_p50_ms, day.latency_p95_ms) == (11, 99, 11, 99)


def test_it_keeps_a_histogram_of_many_values_in_pages(tenant):
    """Rows built from rows, and busy rows built from records by SQL alike: a read of the last
    hours of a busy tenant decodes a few pages per row, not a JSON key per millisecond."""
    for latency in range(300):
        record(tenant.id, START, latency_ms=latency + 0.2)
    record(tenant.id, START, latency_ms=7.0, model_requested="rare-model")
    tenant_chain_seal(tenant_id=tenant.id)
    usage_rollup(tenant_id=tenant.id)

    latencies = sorted([*range(300), 7])
    hour, two_hours = rows(tenant.id, span__in=[1, 2])
    for row in (hour, two_hours):
        decoded = LatencyHistogram()
        decoded.add_stored(requests=301, counts=None, pages=row.latency_pages, p50=None, p95=None)
        assert row.latency_counts == ""
        assert decoded.counts() == {**dict.fromkeys(range(300), 1), 7: 2}
        assert (row.latency_p50_ms, row.latency_p95_ms) == (latencies[150], latencies[285])  # ranks 151, 286
    # A row of few values stays JSON: cheaper to read at that size.
    rare = UsageRollup.objects.get(tenant_id=tenant.id, breakdown=Breakdown.MODEL, span=1, value="rare-model")
    assert (json.loads(rare.latency_counts), rare.latency_pages) == ({"7": 1}, None)


def test_it_lists_the_tenants_whose_chain_moved_past_their_rollups(tenant, outsider):
    record(tenant.id, START)
    record(outsider.id, START)
    tenant_chain_seal(tenant_id=tenant.id)
    tenant_chain_seal(tenant_id=outsider.id)
    usage_rollup(tenant_id=outsider.id)

    assert usage_rollup_due() == [tenant.id]


def cover(since: datetime, until: datetime, **kwargs) -> list[tuple[str, str, int | None]]:
    return [(s.start.isoformat()[5:16], s.end.isoformat()[5:16], s.span) for s in window_cover(since, until, **kwargs)]


def test_it_covers_a_window_with_the_largest_closed_blocks_and_raw_edges():
    since, until = datetime(2026, 3, 1, 22, 30, tzinfo=UTC), datetime(2026, 3, 4, 13, 15, tzinfo=UTC)
    spans = (1, 2, 4, 8, 24, 48, 96)

    closed = cover(since, until, spans=spans, closed_until=datetime(2026, 3, 4, 12, tzinfo=UTC))
    nothing_closed = cover(since, until, spans=spans, closed_until=None)
    by_hour = cover(since, until, spans=(1,), closed_until=until, merge_raw=False)

    # 2026-03-02 is day 20514 since 1970-01-01: an even day starts a 2-day block.
    assert closed == [
        ("03-01T22:30", "03-01T23:00", None), ("03-01T23:00", "03-02T00:00", 1), ("03-02T00:00", "03-04T00:00", 48),
        ("03-04T00:00", "03-04T08:00", 8), ("03-04T08:00", "03-04T12:00", 4), ("03-04T12:00", "03-04T13:00", 1),
        ("03-04T13:00", "03-04T13:15", None),
    ]  # fmt: skip
    assert {span for _, _, span in nothing_closed} == {None, 1}
    assert (by_hour[0], by_hour[-1], len(by_hour)) == (
        ("03-01T22:30", "03-01T23:00", None), ("03-04T13:00", "03-04T13:15", None), 64
    )  # fmt: skip


def test_it_covers_30_days_with_a_few_blocks_and_leaves_open_days_of_end_users_raw():
    until = datetime(2026, 11, 23, 10, 37, tzinfo=UTC)
    since = until - timedelta(days=30)
    closed_until = datetime(2026, 11, 23, 10, tzinfo=UTC)

    every_span = window_cover(since, until, spans=(1, 2, 4, 8, 24, 48, 96, 192, 384, 768), closed_until=closed_until)
    days_only = window_cover(since, until, spans=(24,), closed_until=closed_until)

    assert len([s for s in every_span if s.span]) <= 20
    assert [(s.end - s.start) for s in every_span if s.span is None] == [timedelta(minutes=23), timedelta(minutes=37)]
    assert (days_only[0].span, days_only[0].end, days_only[-1].span, days_only[-1].start) == (
        None, datetime(2026, 10, 25, tzinfo=UTC), None, datetime(2026, 11, 23, tzinfo=UTC)
    )  # fmt: skip
    assert all(s.start < s.end and s.end == n.start for s, n in pairwise(every_span))


def test_it_leaves_at_most_the_open_hour_of_an_agent_to_the_records():
    """One agent by model or app: closed 8-hour blocks are rows, and so are the open block's hours."""
    until = datetime(2026, 11, 23, 20, 14, tzinfo=UTC)
    closed_until = datetime(2026, 11, 23, 20, tzinfo=UTC)
    for breakdown in (Breakdown.AGENT_MODEL, Breakdown.AGENT_APP):
        cover = window_cover(
            until - timedelta(days=30), until, spans=(1, *BREAKDOWN_SPANS[breakdown]), closed_until=closed_until,
            hours_from=open_hours_from(closed_until),
        )  # fmt: skip
        raw = [(s.start, s.end) for s in cover if s.span is None]
        hours = [s.start for s in cover if s.span == 1]
        assert raw == [(until - timedelta(days=30), datetime(2026, 10, 25, tzinfo=UTC)), (closed_until, until)]
        assert hours == [datetime(2026, 11, 23, 16 + n, tzinfo=UTC) for n in range(4)]


@pytest.mark.django_db(transaction=True)
def test_it_reads_one_agents_open_8_hours_from_hour_rows_not_records(monkeypatch, clock):
    """The 8-hour block of now is where a busy agent's records pile up: its hours are rows too."""
    tenant = factories.make_tenant()
    now = datetime(2026, 3, 2, 15, 40, tzinfo=UTC)
    clock(now)
    rng = random.Random(8)
    for _ in range(60):
        random_record(rng, tenant.id, now - timedelta(days=3), timedelta(days=3) - timedelta(minutes=5))
    for _ in range(40):  # the open block [08:00, 16:00)
        random_record(rng, tenant.id, datetime(2026, 3, 2, 8, tzinfo=UTC), timedelta(hours=7, minutes=35))
    tenant_chain_seal(tenant_id=tenant.id)
    usage_rollup(tenant_id=tenant.id)
    random_record(rng, tenant.id, now - timedelta(minutes=3), timedelta(minutes=2), agent_id="ag_1")  # the tail
    summed = []
    sums = selectors.cells_aggregate
    monkeypatch.setattr(selectors, "cells_aggregate", lambda **kw: summed.append(kw["end"] - kw["start"]) or sums(**kw))

    for group_by in ("model", "app"):
        for agent_id in ("ag_1", "ag_2"):
            summary = usage_summary(tenant_id=tenant.id, since=None, until=now, group_by=group_by, agent_id=agent_id)
            expected = direct_usage(tenant.id, now - timedelta(days=30), now, group_by, agent_id)
            assert answered_usage(usage_body(summary), group_by) == expected, (group_by, agent_id)
    # Each window edge: 20 minutes (15:40 to 16:00 thirty days ago; now to the end of its hour).
    assert max(summed) == timedelta(minutes=20)
    assert_rows_are_records(tenant.id)


def test_it_stays_exact_for_a_reader_that_saw_an_older_watermark(tenant):
    """A rollup may commit between a reader's look at the watermark and at the rows."""
    for minute in range(4):
        record(tenant.id, START + timedelta(minutes=minute))
    tenant_chain_seal(tenant_id=tenant.id)
    usage_rollup(tenant_id=tenant.id)
    UsageRollupState.objects.filter(tenant_id=tenant.id).update(through_seq=1)  # what the reader saw
    record(tenant.id, START + timedelta(minutes=9))

    summary = usage_summary(tenant_id=tenant.id, since=START - timedelta(days=2), until=START + timedelta(days=2))

    assert summary.totals.requests == 5


def test_it_stays_exact_over_months_at_every_span(tenant, clock):
    """Blocks of 16 and 32 days, end users and agents over a 70-day history, clock mid-hour."""
    rng = random.Random(70)
    start, span = datetime(2026, 1, 3, 5, 41, tzinfo=UTC), timedelta(days=70)
    clock(start + span + timedelta(minutes=17))
    for _ in range(160):
        random_record(rng, tenant.id, start, span)
    tenant_chain_seal(tenant_id=tenant.id)
    usage_rollup(tenant_id=tenant.id, batch=55)
    for _ in range(6):
        random_record(rng, tenant.id, start + span - timedelta(days=2), timedelta(days=2))

    for since, until in ((start, start + span), (start + timedelta(days=3, minutes=7), start + timedelta(days=64))):
        for group_by in (None, *GROUP_BY):
            for agent_id in (None, "ag_1"):
                summary = usage_summary(
                    tenant_id=tenant.id, since=since, until=until, group_by=group_by, agent_id=agent_id
                )
                expected = direct_usage(tenant.id, since, until, group_by, agent_id)
                assert answered_usage(usage_body(summary), group_by) == expected, (group_by, agent_id, since)
    assert {row.span for row in UsageRollup.objects.filter(tenant_id=tenant.id)} >= {384, 768}
    assert_rows_are_records(tenant.id)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("since_minute", "until_minute"), [(10, 50), (50, 10)])
def test_it_sums_at_most_the_smaller_part_of_an_edge_hour_from_the_records(monkeypatch, since_minute, until_minute):
    """An edge is its hour's row minus the part outside the window when that part is smaller."""
    tenant = factories.make_tenant()
    first, last = datetime(2026, 3, 1, 10, tzinfo=UTC), datetime(2026, 3, 2, 15, tzinfo=UTC)
    for hour in (first, last):
        for minute in (5, 15, 45, 55):
            record(tenant.id, hour + timedelta(minutes=minute), latency_ms=minute * 10, model_requested=f"m{minute}")
    tenant_chain_seal(tenant_id=tenant.id)
    usage_rollup(tenant_id=tenant.id)
    summed = []
    sums = selectors.cells_aggregate
    monkeypatch.setattr(selectors, "cells_aggregate", lambda **kw: summed.append(kw["end"] - kw["start"]) or sums(**kw))
    since, until = first + timedelta(minutes=since_minute), last + timedelta(minutes=until_minute)

    for group_by in (None, "hour", "model"):
        summary = usage_summary(tenant_id=tenant.id, since=since, until=until, group_by=group_by)
        assert answered_usage(usage_body(summary), group_by) == direct_usage(tenant.id, since, until, group_by)
    assert max(summed) == timedelta(minutes=10)


def test_a_catch_up_batch_ends_at_an_eight_hour_edge_and_builds_no_hour_rows_it_deletes(tenant):
    """A batch stops before the 8-hour block its last record starts: that block is then closed
    by the next record, so no agent-by-model or agent-by-app hour rows are built for it only to
    be deleted by the next batch; the catch-up as a whole stays exact."""
    start = datetime(2026, 3, 1, 0, 10, tzinfo=UTC)
    for n in range(45):  # every 40 minutes, 00:10 to 05:30 the next day
        record(tenant.id, start + timedelta(minutes=40 * n), agent_id=f"ag_{n % 3}", model_requested=f"m{n % 2}")
    tenant_chain_seal(tenant_id=tenant.id)
    UsageRollupState.objects.get_or_create(tenant_id=tenant.id)

    # Records 1..20 end at 12:50, in the 08:00 block: the batch stops at record 12 (07:30).
    assert _rollup_batch(tenant_id=tenant.id, through_seq=None, batch=20) == 12
    assert not UsageRollup.objects.filter(tenant_id=tenant.id, breakdown__in=OPEN_HOURS).filter(span=1).exists()
    assert UsageRollupState.objects.get(tenant_id=tenant.id).closed_until == datetime(2026, 3, 1, 8, tzinfo=UTC)

    usage_rollup(tenant_id=tenant.id, batch=20)
    assert UsageRollupState.objects.get(tenant_id=tenant.id).through_seq == 45
    assert_rows_are_records(tenant.id)


def test_a_run_with_a_time_budget_stops_between_batches_and_the_next_run_goes_on(tenant):
    """A Celery task's run ends between two batches once its budget is spent, keeping both,
    rather than being cut by the soft time limit inside one (whose work was then lost)."""
    start = datetime(2026, 3, 1, 0, 10, tzinfo=UTC)
    for n in range(45):
        record(tenant.id, start + timedelta(minutes=40 * n), agent_id=f"ag_{n % 3}")
    tenant_chain_seal(tenant_id=tenant.id)

    assert usage_rollup(tenant_id=tenant.id, batch=20, seconds=0) == 12  # one batch (see above)
    assert UsageRollupState.objects.get(tenant_id=tenant.id).through_seq == 12
    assert usage_rollup(tenant_id=tenant.id, batch=20) == 45
    assert_rows_are_records(tenant.id)


def test_a_rollup_task_stops_beginning_batches_well_within_its_soft_time_limit(settings):
    assert 0 < tasks.ROLLUP_TASK_SECONDS <= settings.CELERY_TASK_SOFT_TIME_LIMIT / 2
