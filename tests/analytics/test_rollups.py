"""Usage rollups (SPEC 5.8): equal to a direct aggregation of the records, whatever the order
of writes, seals, rollup runs and rebuilds — re-runs and out-of-order runs included."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import Max

from analytics.api.serializers import usage_body
from analytics.buckets import window_segments
from analytics.models import Granularity, UsageRollup, UsageRollupState
from analytics.selectors import GROUP_BY, usage_summary
from analytics.services import usage_rollup, usage_rollup_due, usage_rollup_rebuild
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


def assert_rows_are_records(tenant_id: str) -> None:
    """Each hour row holds exactly its bucket's records up to the row's ``through_seq``."""
    for row in UsageRollup.objects.filter(tenant_id=tenant_id, granularity=Granularity.HOUR):
        records = RequestLog.objects.filter(
            tenant_id=tenant_id, created_at__gte=row.bucket_start, created_at__lt=row.bucket_start + timedelta(hours=1),
            seq__lte=row.through_seq, app_id=row.app_id or None, agent_id=row.agent_id, user=row.user or None,
            model_requested=row.model,
        )  # fmt: skip
        assert row.requests == records.count()
        assert row.prompt_tokens == sum(r.prompt_tokens for r in records)


@pytest.mark.parametrize("seed", range(CASES))
def test_it_keeps_rollups_equal_to_the_records_under_random_traffic_and_runs(seed):
    rng = random.Random(seed)
    tenant = factories.make_tenant()
    for _ in range(rng.randint(5, 25)):
        random_record(rng, tenant.id, START, SPAN)
    for _ in range(STEPS):
        step = rng.choice(["write", "write_late", "seal", "rollup", "rollup_to", "rerun", "rebuild"])
        if step == "write":
            for _ in range(rng.randint(1, 12)):
                random_record(rng, tenant.id, START, SPAN)
        elif step == "write_late":
            # A long stream: its record carries its start time, hours into already rolled buckets.
            random_record(rng, tenant.id, START, timedelta(hours=3))
        elif step == "seal":
            tenant_chain_seal(tenant_id=tenant.id, batch=rng.randint(1, 30))
        elif step == "rollup":
            usage_rollup(tenant_id=tenant.id, batch=rng.randint(1, 40))
        elif step == "rollup_to":
            # Out of order: a run told to stop before, at or after the current watermark.
            top = RequestLog.objects.filter(tenant_id=tenant.id).aggregate(m=Max("seq"))["m"] or 0
            usage_rollup(tenant_id=tenant.id, through_seq=rng.randint(0, top + 2))
        elif step == "rerun":
            state = UsageRollupState.objects.filter(tenant_id=tenant.id).first()
            usage_rollup(tenant_id=tenant.id, through_seq=state.through_seq if state else 0)
        else:
            since = START + timedelta(hours=rng.randint(0, 50))
            usage_rollup_rebuild(tenant_id=tenant.id, since=since, until=since + timedelta(hours=rng.randint(1, 30)))
        assert_exact(tenant.id, rng)
    assert_exact(tenant.id, rng, thorough=True)
    assert_rows_are_records(tenant.id)


def test_it_counts_nothing_twice_when_a_run_is_repeated(tenant):
    for minute in range(5):
        record(tenant.id, START + timedelta(minutes=minute))
    tenant_chain_seal(tenant_id=tenant.id)

    assert usage_rollup(tenant_id=tenant.id) == 5
    rows = list(UsageRollup.objects.filter(tenant_id=tenant.id).values())
    assert usage_rollup(tenant_id=tenant.id) == 0
    usage_rollup_rebuild(tenant_id=tenant.id, since=START, until=START + timedelta(days=1))

    assert [r | {"id": 0, "computed_at": 0} for r in UsageRollup.objects.filter(tenant_id=tenant.id).values()] == [
        r | {"id": 0, "computed_at": 0} for r in rows
    ]
    hour = UsageRollup.objects.get(tenant_id=tenant.id, granularity=Granularity.HOUR)
    day = UsageRollup.objects.get(tenant_id=tenant.id, granularity=Granularity.DAY)
    assert (hour.requests, day.requests, hour.through_seq) == (5, 5, 5)


def test_it_does_nothing_for_a_run_behind_the_watermark(tenant):
    for minute in range(3):
        record(tenant.id, START + timedelta(minutes=minute))
    tenant_chain_seal(tenant_id=tenant.id)
    usage_rollup(tenant_id=tenant.id)

    assert usage_rollup(tenant_id=tenant.id, through_seq=1) == 0
    assert UsageRollup.objects.get(tenant_id=tenant.id, granularity=Granularity.HOUR).requests == 3


def test_it_folds_a_late_record_into_its_old_bucket(tenant):
    record(tenant.id, START)
    tenant_chain_seal(tenant_id=tenant.id)
    usage_rollup(tenant_id=tenant.id)
    record(tenant.id, START + timedelta(minutes=5), prompt_tokens=7)  # written long after it started
    tenant_chain_seal(tenant_id=tenant.id)

    usage_rollup(tenant_id=tenant.id)

    hour = UsageRollup.objects.get(tenant_id=tenant.id, granularity=Granularity.HOUR)
    assert (hour.requests, hour.prompt_tokens, hour.through_seq) == (2, 17, 2)


def test_it_keeps_latencies_as_a_whole_millisecond_histogram(tenant):
    for latency in (10.4, 10.5, 99.0):
        record(tenant.id, START, latency_ms=latency)
    tenant_chain_seal(tenant_id=tenant.id)
    usage_rollup(tenant_id=tenant.id)

    hour = UsageRollup.objects.get(tenant_id=tenant.id, granularity=Granularity.HOUR)
    assert hour.latency_histogram == {"10": 1, "11": 1, "99": 1}


def test_it_lists_the_tenants_whose_chain_moved_past_their_rollups(tenant, outsider):
    record(tenant.id, START)
    record(outsider.id, START)
    tenant_chain_seal(tenant_id=tenant.id)
    tenant_chain_seal(tenant_id=outsider.id)
    usage_rollup(tenant_id=outsider.id)

    assert usage_rollup_due() == [tenant.id]


def test_it_splits_a_window_into_raw_edges_hours_and_days():
    since, until = datetime(2026, 3, 1, 22, 30, tzinfo=UTC), datetime(2026, 3, 4, 1, 15, tzinfo=UTC)

    kinds = [(s.start.isoformat(), s.granularity) for s in window_segments(since, until)]
    hours = [(s.start.isoformat(), s.granularity) for s in window_segments(since, until, finest=Granularity.HOUR)]

    assert kinds == [
        ("2026-03-01T22:30:00+00:00", None),
        ("2026-03-01T23:00:00+00:00", "hour"),
        ("2026-03-02T00:00:00+00:00", "day"),
        ("2026-03-04T00:00:00+00:00", "hour"),
        ("2026-03-04T01:00:00+00:00", None),
    ]
    assert hours == [("2026-03-01T22:30:00+00:00", None), ("2026-03-01T23:00:00+00:00", "hour"),
                     ("2026-03-04T01:00:00+00:00", None)]  # fmt: skip


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
