"""Group commit of forensic records: one write for all requests that finish together.

Each request awaits the commit of the batch holding its record, so a response is never
sent before its record is committed, yet the database sees one transaction per batch rather
than one per request. A batch forms naturally: records arriving while the previous batch
is being written go into the next one.

On PostgreSQL a batch is one ``COPY`` (a prepared ``INSERT`` for a batch of one) over the
process's own asyncio connection, on the event loop: no ORM, no thread hop, and no GIL
contention with the loop it serves (the ORM path cost more CPU than COPY:
docs/performance-log.md, 2026-11-23 08:17, finding 4). Elsewhere (SQLite, the embedded
default) the ORM writes the batch on the runtime's database threads.

The batch of one, which is every batch at low concurrency, skips psycopg's cursor layer: its
parameters go as text straight to libpq (``psycopg.pq``) and psycopg's own generator waits for
the result, for less client CPU than an insert through a cursor (docs/performance.md →
Decisions).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

import orjson
import psycopg
from django import db as django_db
from django.conf import settings
from django.db import DatabaseError, connections, transaction
from psycopg import generators, pq

from forensics.models import RequestLog

logger = logging.getLogger(__name__)
MAX_BATCH = 500
RETRY_DELAYS = (0.05, 0.2, 0.5, 1.0, 2.0, 4.0)
RECORD_COLUMNS = (
    "id", "tenant_id", "created_at", "client_request_id", "app_id", "agent_id", "key_id", "credential",
    "user", "identity_source", "conversation_id", "endpoint", "model_requested", "model_resolved",
    "provider_id", "stream", "status_code", "error_code", "error_reason", "prompt_tokens",
    "completion_tokens", "cost_usd", "latency_ms", "upstream_latency_ms", "client_ip", "user_agent",
    "policy_ids", "fail_open", "request_body", "response_body",
)  # fmt: skip
JSON_COLUMNS = frozenset({"policy_ids", "fail_open"})
_COLUMN_LIST = ", ".join(f'"{c}"' for c in RECORD_COLUMNS)
COPY_SQL = f"COPY forensics_requestlog ({_COLUMN_LIST}) FROM STDIN"
# A batch of one (every batch at low concurrency): a prepared INSERT is one round trip where
# COPY needs two, and costs less CPU (docs/performance.md → Decisions).
_PLACEHOLDERS = ", ".join(f"${n}" for n in range(1, len(RECORD_COLUMNS) + 1))
INSERT_ONE_SQL = f"INSERT INTO forensics_requestlog ({_COLUMN_LIST}) VALUES ({_PLACEHOLDERS})"  # noqa: S608 (constants)
INSERT_ONE_NAME = b"aidgate_record_insert"
_DONE = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK)
# Parameters Django passes to psycopg that are Django's own (cursor class, adapters) or that
# this connection sets per statement itself (prepared statements).
DJANGO_ONLY_PARAMS = ("cursor_factory", "context", "prepare_threshold", "server_side_binding", "pool")


class RecordSink(Protocol):
    async def insert(self, records: list[dict[str, Any]]) -> None: ...

    async def close(self) -> None: ...


# The largest multi-row INSERT the portable path sends; see ``shape_bounded_chunks``.
LARGEST_ORM_CHUNK = 64


def shape_bounded_chunks(records: list[Any], largest: int = LARGEST_ORM_CHUNK) -> list[list[Any]]:
    """Split a batch into chunks whose sizes are powers of two up to ``largest``.

    Each batch size is a different multi-row INSERT, and SQLite's driver keeps its last 128
    statements prepared per connection (with DEBUG on, one more per size for Django's query
    log). A soak on the embedded default filled those caches with a statement for every batch
    size up to ``MAX_BATCH``, and a gateway whose memory kept growing for a minute
    (docs/performance.md → Decisions). With power-of-two sizes there are seven shapes,
    whatever the traffic.
    """
    chunks, start, size = [], 0, largest
    while start < len(records):
        while size > len(records) - start:
            size //= 2
        chunks.append(records[start : start + size])
        start += size
    return chunks


def records_insert(records: list[dict[str, Any]]) -> None:
    with transaction.atomic():
        for chunk in shape_bounded_chunks(records):
            RequestLog.objects.bulk_create([RequestLog(**r) for r in chunk])


class OrmRecordSink:
    """The portable path: the ORM on the runtime's database threads."""

    def __init__(self, db_runner) -> None:
        self._db = db_runner

    async def insert(self, records: list[dict[str, Any]]) -> None:
        await self._db.run(records_insert, records)

    async def close(self) -> None:
        return None


def _storable(text: str) -> str:
    """PostgreSQL text cannot hold NUL, which a client can put in a JSON string or a JWT claim;
    it is kept visible as U+FFFD rather than refused (the record must be written)."""
    return text.replace("\x00", "\ufffd")


def _copy_value(column: str, value: Any) -> Any:
    # A lone surrogate fails the COPY (UnicodeEncodeError): the batch is then written record by
    # record, where ``_text`` replaces it.
    if column in JSON_COLUMNS:
        return orjson.dumps(value).decode()
    return _storable(value) if isinstance(value, str) else value


def _copy_row(record: dict[str, Any]) -> list[Any]:
    return [_copy_value(c, record[c]) for c in RECORD_COLUMNS]


def _text_of_str(value: str) -> bytes:
    # A string that is not valid UTF-8 (a lone surrogate) is written with replacement
    # characters: a record slightly altered beats a request that cannot be recorded.
    return _storable(value).encode("utf-8", "replace")


def _text_of_number(value: int | float) -> bytes:
    return repr(value).encode()


# One lookup by exact type per value (a record has 30): cheaper than a chain of isinstance.
# The order is the order subclasses are tried in (bool before int).
_TEXT_OF: dict[type, Callable[[Any], bytes]] = {
    str: _text_of_str,
    bool: lambda value: b"t" if value else b"f",
    int: _text_of_number,
    float: _text_of_number,
    datetime: lambda value: value.isoformat().encode(),
    list: orjson.dumps,
    dict: orjson.dumps,
}


def _text(value: Any) -> bytes:
    """One parameter in PostgreSQL's text input format; the prepared statement gives its type.
    ``None`` (SQL NULL) never gets here: ``_text_row`` passes it through without a call.

    The exact types a record holds are tested in line, before the table: compiled
    (core/compiled.py), each is a pointer comparison and a direct call, where a lookup in
    ``_TEXT_OF`` and a call through it cost about 1,700 instructions a value."""
    kind = type(value)
    if kind is str:
        return _text_of_str(value)
    if kind is int or kind is float:
        return repr(value).encode()
    if kind is datetime:
        return value.isoformat().encode()
    if kind is bool:
        return b"t" if value else b"f"
    if kind is list or kind is dict:
        return orjson.dumps(value)
    for kind, encode in _TEXT_OF.items():  # a subclass (an IntEnum, say)
        if isinstance(value, kind):
            return encode(value)
    raise TypeError(f"no text form for a record value of type {type(value).__name__}")


def _text_row(record: dict[str, Any]) -> list[bytes | None]:
    return [None if (value := record[c]) is None else _text(value) for c in RECORD_COLUMNS]


def _results_check(results: list[pq.abc.PGresult], connection: psycopg.AsyncConnection) -> None:
    for result in results:
        if result.status not in _DONE:
            raise psycopg.errors.error_from_result(result, encoding=connection.info.encoding)


def postgres_params(alias: str = "default") -> dict[str, Any]:
    """The connection parameters of Django's database, for a connection Django does not manage."""
    params = dict(connections[alias].get_connection_params())
    for name in DJANGO_ONLY_PARAMS:
        params.pop(name, None)
    params.setdefault("connect_timeout", 5)
    if not settings.AUDIT_RECORD_FSYNC:
        # Set once at connect time (libpq's startup options): no round trip per batch.
        params["options"] = f"{params.get('options', '')} -c synchronous_commit=off".strip()
    return params


class PostgresRecordSink:
    """One asyncio connection per process in autocommit: each ``COPY`` is its own transaction."""

    def __init__(self, params: dict[str, Any]) -> None:
        self._params = params
        self._connection: psycopg.AsyncConnection | None = None

    async def insert(self, records: list[dict[str, Any]]) -> None:
        connection = self._connection
        try:
            if connection is None or connection.closed:
                connection = self._connection = await self._connect()
            if len(records) == 1:
                pgconn = connection.pgconn
                pgconn.send_query_prepared(INSERT_ONE_NAME, _text_row(records[0]))
                _results_check(await connection.wait(generators.execute(pgconn)), connection)
            else:
                async with connection.cursor() as cursor, cursor.copy(COPY_SQL) as copy:
                    for record in records:
                        await copy.write_row(_copy_row(record))
        except (psycopg.Error, OSError):
            # A broken connection is not reused: the retry reconnects.
            await self.close()
            raise

    async def _connect(self) -> psycopg.AsyncConnection:
        connection = await psycopg.AsyncConnection.connect(autocommit=True, **self._params)
        try:
            connection.pgconn.send_prepare(INSERT_ONE_NAME, INSERT_ONE_SQL.encode())
            _results_check(await connection.wait(generators.execute(connection.pgconn)), connection)
        except BaseException:
            await connection.close()
            raise
        return connection

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.closed:
            try:
                await connection.close()
            except (psycopg.Error, OSError):
                logger.debug("record connection closed with an error")


def record_sink_for(db_runner) -> RecordSink:
    if connections["default"].vendor == "postgresql":
        return PostgresRecordSink(postgres_params())
    return OrmRecordSink(db_runner)


class Unwritable(Exception):
    """The database refused a record for what it holds (not for being unreachable)."""


UNWRITABLE = (psycopg.DataError, psycopg.IntegrityError, django_db.DataError, django_db.IntegrityError,
               TypeError, UnicodeError)  # fmt: skip


def _settle(future: asyncio.Future, error: Exception | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


class RecordWriter:
    def __init__(self, sink: RecordSink) -> None:
        self._sink = sink
        self._pending: list[tuple[dict[str, Any], asyncio.Future]] = []
        self._flusher: asyncio.Task | None = None
        self._writing = 0  # records of the batch being written
        # While a batch waits out a failing database: the kind of failure (readiness reads
        # it). None again once the batch is written or its retries are spent.
        self.retrying: str | None = None

    @property
    def depth(self) -> int:
        """Records submitted and not yet committed (or failed): queued, or in the batch being written."""
        return len(self._pending) + self._writing

    def submit(self, record: dict[str, Any]) -> asyncio.Future:
        """Queue a record; the future resolves once its batch is committed (or has failed).

        A caller that is cancelled while waiting does not take the record with it: it stays
        in its batch and is written all the same.
        """
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending.append((record, future))
        if self._flusher is None or self._flusher.done():
            # The batch is every caller's: its lines name none of them (core/log_json.py).
            self._flusher = loop.create_task(self._flush(), context=contextvars.Context())
        return future

    async def write(self, record: dict[str, Any]) -> None:
        await asyncio.shield(self.submit(record))

    async def close(self) -> None:
        await self._sink.close()

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # let requests finishing in this loop tick join the batch
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            self._writing = len(batch)
            error = await self._insert_with_retry([record for record, _ in batch])
            if isinstance(error, Unwritable) and len(batch) > 1:
                # One record the database refuses must not cost its batch-mates their answers.
                for record, future in batch:
                    _settle(future, await self._insert_with_retry([record]))
                continue
            for _, future in batch:
                _settle(future, error)
        self._writing = 0

    async def _insert_with_retry(self, records: list[dict[str, Any]]) -> Exception | None:
        """A database restart is waited out (bounded); past that the requests fail cleanly.

        A record the database refuses for its content fails at once: retrying cannot change
        the answer, and the writer is sequential, so every later request would wait too.
        """
        for delay in (*RETRY_DELAYS, None):
            try:
                await self._sink.insert(records)
                self.retrying = None
                return None
            except UNWRITABLE as exc:
                logger.error("a forensic record was refused: %s", type(exc).__name__)
                return Unwritable(type(exc).__name__)
            except (DatabaseError, psycopg.Error, OSError) as exc:
                self.retrying = type(exc).__name__
                if delay is None:
                    self.retrying = None
                    logger.error("forensic records could not be written: %s", type(exc).__name__)
                    return exc
                await asyncio.sleep(delay)
            except Exception as exc:  # a bug must fail its requests, never leave them waiting
                self.retrying = None
                logger.exception("forensic records could not be written")
                return exc
        return None
