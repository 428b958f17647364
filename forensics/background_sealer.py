"""Sealing inside the gateway process when there is no Celery broker (the embedded default),
so that ``make run`` seals records within seconds just as beat would in production.

Every worker process runs one; on PostgreSQL ``audit_seal_all`` lets only one of them seal at a
time (an advisory lock taken without waiting), and the others skip their pass."""

from __future__ import annotations

import logging
import threading

from django.db import close_old_connections, connections

from forensics.sealing import audit_seal_all, seal_window_since

logger = logging.getLogger(__name__)


class BackgroundSealer:
    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="aid-sealer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                close_old_connections()
                audit_seal_all(since=seal_window_since())
            except Exception:
                logger.exception("background sealing failed; retrying")
        # A pooled connection goes back to its pool, not down with the thread.
        connections.close_all()
