"""``LOG_FORMAT=json``: one JSON object a line, naming the request a line is about.

The proxy puts each request's context into :data:`request_logged` when the request arrives
(one ``ContextVar.set``); the formatter reads its ids when, and only when, a line is written,
so a request pays nothing for the ids that stages fill in later (tenant, app, agent) and
nothing at all while no line is logged. Tasks a request starts inherit it; the long-lived
ones a request happens to start (the configuration poller, the record writer's flush, the
metrics sampler) run in an empty context instead, so that their lines name no request.

Django's side (management API, console) does the same in :mod:`core.log_middleware`: a
:class:`DjangoRequestLogged` with the request's id when it arrives, its tenant filled in by
:func:`logged_tenant_set` where the caller is authenticated (an org key, a console session).

Only these four ids and the message are written: never a header, a body or a key. Query
strings in the servers' access lines are redacted before any formatter sees them
(``core.log_redaction``).
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson


class LoggedRequest(Protocol):
    id: str
    tenant_id: str | None
    app_id: str | None
    agent_id: str | None


request_logged: ContextVar[LoggedRequest | None] = ContextVar("request_logged", default=None)


@dataclass(slots=True)
class DjangoRequestLogged:
    """A request Django serves: its id from the start, its tenant once the caller is known.

    Mutable on purpose: the authentication runs in a thread of its own (a copy of the
    context), and the lines written after it, back in the request's task, must see the tenant.
    """

    id: str
    tenant_id: str | None = None
    app_id: str | None = None
    agent_id: str | None = None


def logged_tenant_set(tenant_id: str | None) -> None:
    """Name ``tenant_id`` in the lines of the Django request being served from now on.

    A no-op outside one (a proxied request keeps its own context, a command has none).
    """
    request = request_logged.get()
    if isinstance(request, DjangoRequestLogged) and tenant_id is not None:
        request.tenant_id = tenant_id


class JsonLineFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message"[, "request_id", "tenant_id", "app_id",
    "agent_id"][, "exception"]}``, one line each (a traceback is a field, not more lines)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request = request_logged.get()
        if request is not None:
            line["request_id"] = request.id
            line["tenant_id"] = request.tenant_id
            line["app_id"] = request.app_id
            line["agent_id"] = request.agent_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        return orjson.dumps(line, default=str).decode()
