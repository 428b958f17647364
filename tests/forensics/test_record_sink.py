"""The PostgreSQL record sink: COPY over the process's own asyncio connection, with the
commit's disk flush left to PostgreSQL's WAL writer unless ``AUDIT_RECORD_FSYNC`` is on,
and a connection that breaks is replaced on the next attempt."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest

from core.ids import new_id
from forensics.models import RequestLog
from forensics.recorder import (
    RECORD_COLUMNS,
    RETRY_DELAYS,
    PostgresRecordSink,
    RecordWriter,
    Unwritable,
    postgres_params,
)
from tests.support.requirements import needs_postgresql

pytestmark = [
    needs_postgresql,
    pytest.mark.django_db(transaction=True),
]


def a_record(**overrides) -> dict:
    record = dict.fromkeys(RECORD_COLUMNS)
    record.update(
        id=new_id("req"), tenant_id="tn_sink", created_at=datetime.now(tz=UTC), endpoint="chat", stream=False,
        status_code=200, prompt_tokens=12, completion_tokens=7, cost_usd=0.00001234, latency_ms=1.25,
        user="alice@example.com", policy_ids=["pol_a", "pol_b"], fail_open=[], request_body='{"a": "\\t\\n"}',
    )  # fmt: skip
    record.update(overrides)
    return record


async def _show(sink: PostgresRecordSink) -> str:
    async with sink._connection.cursor() as cursor:
        await cursor.execute("SHOW synchronous_commit")
        return (await cursor.fetchone())[0]


def test_it_writes_batches_and_lone_records_with_every_field_as_the_orm_reads_it():
    records = [a_record(), a_record(user=None, policy_ids=[], upstream_latency_ms=0.5, stream=True)]
    alone = a_record(client_ip="10.0.0.1", policy_ids=["pol_c"])

    async def scenario() -> None:
        sink = PostgresRecordSink(postgres_params())
        writer = RecordWriter(sink)
        await asyncio.gather(*(writer.write(r) for r in records))  # one batch of two: COPY
        await writer.write(alone)  # a batch of one: the prepared INSERT
        await writer.close()

    asyncio.run(scenario())
    lone = RequestLog.objects.get(id=alone["id"])
    assert (lone.client_ip, lone.policy_ids, lone.cost_usd, lone.user) == (
        "10.0.0.1", ["pol_c"], Decimal("0.00001234"), "alice@example.com",
    )  # fmt: skip
    first, second = (RequestLog.objects.get(id=r["id"]) for r in records)
    assert (first.user, first.policy_ids, first.fail_open, first.cost_usd) == (
        "alice@example.com", ["pol_a", "pol_b"], [], Decimal("0.00001234"),
    )  # fmt: skip
    assert first.request_body == '{"a": "\\t\\n"}'
    assert (second.user, second.policy_ids, second.stream, second.upstream_latency_ms) == (None, [], True, 0.5)
    assert first.created_at == records[0]["created_at"]


def test_its_commits_do_not_wait_for_the_disk_flush_by_default():
    async def scenario() -> str:
        sink = PostgresRecordSink(postgres_params())
        await sink.insert([a_record()])
        try:
            return await _show(sink)
        finally:
            await sink.close()

    assert asyncio.run(scenario()) == "off"


def test_it_waits_for_the_disk_flush_when_asked_to(settings):
    settings.AUDIT_RECORD_FSYNC = True

    async def scenario() -> str:
        sink = PostgresRecordSink(postgres_params())
        await sink.insert([a_record()])
        try:
            return await _show(sink)
        finally:
            await sink.close()

    assert asyncio.run(scenario()) == "on"


def test_it_reconnects_after_its_connection_is_killed():
    survivor = a_record()

    async def scenario() -> None:
        sink = PostgresRecordSink(postgres_params())
        writer = RecordWriter(sink)
        await writer.write(a_record())
        async with sink._connection.cursor() as cursor:
            await cursor.execute("SELECT pg_backend_pid()")
            pid = (await cursor.fetchone())[0]
        async with await psycopg.AsyncConnection.connect(autocommit=True, **postgres_params()) as admin:
            await admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        await writer.write(survivor)
        await writer.close()

    asyncio.run(scenario())
    assert RequestLog.objects.filter(id=survivor["id"]).exists()


def test_it_writes_nul_characters_and_lone_surrogates_rather_than_lose_the_record():
    # A client can put "\u0000" in a JSON string (the model name) or a JWT claim; PostgreSQL
    # text cannot hold it, and a lone surrogate is not UTF-8 at all.
    alone = a_record(model_requested="gpt\x00-4o", user="eve\ud800@example.com")
    batch = [a_record(model_requested="m\x00"), a_record(user="\udfff"), a_record()]

    async def scenario() -> None:
        sink = PostgresRecordSink(postgres_params())
        writer = RecordWriter(sink)
        await writer.write(alone)
        await asyncio.gather(*(writer.write(r) for r in batch))
        await writer.close()

    # Bounded: a writer that chokes on such a record leaves its requests waiting forever.
    asyncio.run(asyncio.wait_for(scenario(), timeout=20))
    written = RequestLog.objects.in_bulk([alone["id"], *(r["id"] for r in batch)])
    assert (written[alone["id"]].model_requested, written[alone["id"]].user) == ("gpt\ufffd-4o", "eve?@example.com")
    assert written[batch[0]["id"]].model_requested == "m\ufffd"
    assert written[batch[1]["id"]].user == "?"
    assert batch[2]["id"] in written


def test_a_record_the_database_refuses_fails_alone_and_without_retries():
    # An upstream reporting an absurd token count: the integer column refuses it. Retrying
    # (8 s of back-off) would hold up every later request of the process behind it.
    refused = a_record(prompt_tokens=10**12)
    mates = [a_record(), a_record()]

    async def scenario() -> tuple[list, float]:
        sink = PostgresRecordSink(postgres_params())
        writer = RecordWriter(sink)
        started = time.monotonic()
        outcomes = await asyncio.gather(
            *(writer.write(r) for r in [mates[0], refused, mates[1]]), return_exceptions=True
        )
        elapsed = time.monotonic() - started
        await writer.close()
        return outcomes, elapsed

    outcomes, elapsed = asyncio.run(scenario())
    assert outcomes[0] is None
    assert outcomes[2] is None
    assert isinstance(outcomes[1], Unwritable)
    assert elapsed < sum(RETRY_DELAYS) / 2
    assert set(RequestLog.objects.values_list("id", flat=True)) == {mates[0]["id"], mates[1]["id"]}


def test_a_waiter_cancelled_before_the_commit_does_not_take_its_record_with_it():
    # The pipeline awaits the submitted future itself (no shield, no task): a request
    # cancelled while its record is being written must still leave that record.
    abandoned, later = a_record(), a_record()

    async def scenario() -> bool:
        writer = RecordWriter(PostgresRecordSink(postgres_params()))
        waiter = asyncio.ensure_future(_await(writer.submit(abandoned)))
        await asyncio.sleep(0)
        waiter.cancel()
        await writer.write(later)  # the writer is sequential: the abandoned batch went first
        await writer.close()
        return waiter.cancelled()

    assert asyncio.run(asyncio.wait_for(scenario(), timeout=20))
    assert RequestLog.objects.filter(id__in=[abandoned["id"], later["id"]]).count() == 2


async def _await(future: asyncio.Future) -> None:
    await future
