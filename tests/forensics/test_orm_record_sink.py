"""The portable record path (the ORM; SQLite, the embedded default): however its batches
vary in size, it sends a handful of statement shapes, so the driver's prepared-statement
cache cannot fill with one large statement per size (a soak once grew SQLite's memory by
200 MB that way)."""

from __future__ import annotations

import pytest
from django.db import connection

from forensics.models import RequestLog
from forensics.recorder import LARGEST_ORM_CHUNK, RECORD_COLUMNS, records_insert, shape_bounded_chunks
from tests.forensics.support import record

pytestmark = pytest.mark.django_db


def record_row(tenant_id: str) -> dict:
    row = record(tenant_id)
    return {column: getattr(row, column) for column in RECORD_COLUMNS}


def test_a_batch_splits_into_power_of_two_chunks_in_order():
    for size in range(1, 300):
        batch = list(range(size))
        chunks = shape_bounded_chunks(batch)
        assert [item for chunk in chunks for item in chunk] == batch
        assert all(len(c) <= LARGEST_ORM_CHUNK and len(c) & (len(c) - 1) == 0 for c in chunks), [len(c) for c in chunks]


def test_batches_of_every_size_are_written_with_a_few_statement_shapes():
    statements: set[str] = set()

    def remember(execute, sql, params, many, context):
        if "forensics_requestlog" in sql and sql.lstrip().upper().startswith("INSERT"):
            statements.add(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(remember):
        for size in range(1, 101):
            records_insert([record_row("tn_shapes") for _ in range(size)])

    assert RequestLog.objects.filter(tenant_id="tn_shapes").count() == sum(range(1, 101))
    assert 1 <= len(statements) <= 7, len(statements)
