"""Server-sent events: splitting a byte stream into events, and encoding OpenAI chunks."""

from __future__ import annotations

from typing import Any

import orjson

DONE = b"data: [DONE]\n\n"
# SPEC 3.6: one streamed event over 1 MiB ends the request. Counted over the event's bytes
# as parsed (lines with LF ends, field names included, up to and including the blank line
# that ends it), so the most a stream can hold in memory is this plus one read.
MAX_STREAM_EVENT_BYTES = 1 << 20


class UpstreamEventTooLarge(Exception):
    """An upstream event passed :data:`MAX_STREAM_EVENT_BYTES`: the stream cannot go on."""


class SSEBuffer:
    """Splits bytes into events and yields each complete event's ``data`` payload (joined lines).

    Linear in the bytes fed, however they are cut: each byte is searched once, and the
    pieces of an event that spans reads are joined once, when it ends. An event (complete
    or still pending) over :data:`MAX_STREAM_EVENT_BYTES` raises
    :class:`UpstreamEventTooLarge`, and so does every later read.
    """

    __slots__ = ("_cr", "_failed", "_pending", "_pending_size")

    def __init__(self) -> None:
        self._cr = b""
        # The start of an event that no read has ended yet; it holds no blank line.
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._failed = False

    def feed(self, data: bytes) -> list[tuple[bytes, bytes]]:
        """Returns ``(raw_event_bytes, data_payload)`` for every event completed by ``data``."""
        if self._failed:
            raise UpstreamEventTooLarge
        # A CR at the end of a read may be the first half of a CRLF: hold it for the next read.
        if self._cr:
            data, self._cr = self._cr + data, b""
        if data.endswith(b"\r"):
            data, self._cr = data[:-1], b"\r"
        data = data.replace(b"\r\n", b"\n")
        events: list[tuple[bytes, bytes]] = []
        if not data:
            return events
        start = 0
        if self._pending:
            if self._pending[-1].endswith(b"\n") and data.startswith(b"\n"):
                start = 1  # the blank line straddles the two reads
            elif (end := data.find(b"\n\n")) >= 0:
                start = end + 2
            else:
                self._hold(data)
                return events
            raw = b"".join(self._pending) + data[:start]
            self._pending, self._pending_size = [], 0
            events.append(self._event(raw))
        while (end := data.find(b"\n\n", start)) >= 0:
            events.append(self._event(data[start : end + 2]))
            start = end + 2
        if start < len(data):
            self._hold(data[start:])
        return events

    def _event(self, raw: bytes) -> tuple[bytes, bytes]:
        if len(raw) > MAX_STREAM_EVENT_BYTES:
            self._fail()
        payload = b"\n".join(line[5:].lstrip(b" ") for line in raw.split(b"\n") if line.startswith(b"data:"))
        return raw, payload

    def _hold(self, piece: bytes) -> None:
        self._pending.append(piece)
        self._pending_size += len(piece)
        if self._pending_size > MAX_STREAM_EVENT_BYTES:
            self._fail()

    def _fail(self) -> None:
        self._failed = True
        self._pending, self._pending_size = [], 0
        raise UpstreamEventTooLarge

    def event_type(self, raw: bytes) -> bytes | None:
        for line in raw.split(b"\n"):
            if line.startswith(b"event:"):
                return line[6:].strip()
        return None


def sse_encode(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"
