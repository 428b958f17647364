"""Keeping credentials out of access logs.

An app may take its key in the query string (SPEC 3.1, ``key_location: query``), and the
servers' access logs print request lines whole: ``GET /apps/x/v1/models?api_key=aid_sk_…``.
Every query value in those lines is replaced by ``[REDACTED]`` before any handler sees it.

uvicorn and gunicorn configure their access loggers themselves, so the filter is attached
to those loggers directly when Django's ``LOGGING`` is applied (``access_log_redaction`` is
the filter factory named there); a logger keeps its filters when a server reconfigures its
handlers later.
"""

from __future__ import annotations

import logging
import re
from typing import Any

ACCESS_LOGGERS = ("uvicorn.access", "gunicorn.access")
_QUERY_VALUE = re.compile(r"([?&][^=&\s\"?#]*=)[^&\s\"#]*")


def query_values_redact(text: str) -> str:
    return _QUERY_VALUE.sub(r"\1[REDACTED]", text)


def _redact(value: Any) -> Any:
    return query_values_redact(value) if isinstance(value, str) else value


class QueryStringRedaction(logging.Filter):
    """Redacts query values in a record's message and arguments; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = query_values_redact(record.msg)
        if isinstance(record.args, dict):
            record.args = {k: ("[REDACTED]" if k == "q" and v else _redact(v)) for k, v in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(_redact(arg) for arg in record.args)
        return True


def access_log_redaction() -> QueryStringRedaction:
    """The filter for ``LOGGING``; also attaches it to the servers' own access loggers."""
    redaction = QueryStringRedaction()
    for name in ACCESS_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, QueryStringRedaction) for f in logger.filters):
            logger.addFilter(redaction)
    return redaction
