"""Group commit of forensic records: one multi-row insert for all requests that finish together.

Each request awaits the commit of the batch holding its record, so a response is never
sent before its record is durable, yet the database sees one transaction per batch rather
than one per request. A batch forms naturally: records arriving while the previous batch
is being written go into the next one.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from django.db import DatabaseError, transaction

from forensics.models import RequestLog

logger = logging.getLogger(__name__)
MAX_BATCH = 500
RETRY_DELAYS = (0.05, 0.2, 0.5, 1.0, 2.0, 4.0)


def records_insert(records: list[dict[str, Any]]) -> None:
    with transaction.atomic():
        RequestLog.objects.bulk_create([RequestLog(**r) for r in records])


class RecordWriter:
    def __init__(self, db_runner) -> None:
        self._db = db_runner
        self._pending: list[tuple[dict[str, Any], asyncio.Future]] = []
        self._flusher: asyncio.Task | None = None

    async def write(self, record: dict[str, Any]) -> None:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((record, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
        await asyncio.shield(future)

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # let requests finishing in this loop tick join the batch
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            error = await self._insert_with_retry([record for record, _ in batch])
            for _, future in batch:
                if future.done():
                    continue
                if error is None:
                    future.set_result(None)
                else:
                    future.set_exception(error)

    async def _insert_with_retry(self, records: list[dict[str, Any]]) -> Exception | None:
        """A database restart is waited out (bounded); past that the requests fail cleanly."""
        for delay in (*RETRY_DELAYS, None):
            try:
                await self._db.run(records_insert, records)
                return None
            except DatabaseError as exc:
                if delay is None:
                    logger.error("forensic records could not be written: %s", type(exc).__name__)
                    return exc
                await asyncio.sleep(delay)
        return None
