"""Server-sent events: splitting a byte stream into events, and encoding OpenAI chunks."""

from __future__ import annotations

from typing import Any

import orjson

DONE = b"data: [DONE]\n\n"


class SSEBuffer:
    """Accumulates bytes and yields complete events' ``data`` payloads (joined lines)."""

    __slots__ = ("_buffer", "_cr")

    def __init__(self) -> None:
        self._buffer = b""
        self._cr = b""

    def feed(self, data: bytes) -> list[tuple[bytes, bytes]]:
        """Returns ``(raw_event_bytes, data_payload)`` for every event completed by ``data``."""
        # A CR at the end of a read may be the first half of a CRLF: hold it for the next read.
        data = self._cr + data
        self._cr = b""
        if data.endswith(b"\r"):
            data, self._cr = data[:-1], b"\r"
        self._buffer += data.replace(b"\r\n", b"\n")
        events = []
        while True:
            end = self._buffer.find(b"\n\n")
            if end < 0:
                return events
            raw, self._buffer = self._buffer[: end + 2], self._buffer[end + 2 :]
            payload = b"\n".join(
                line[5:].lstrip(b" ") if line.startswith(b"data:") else b""
                for line in raw.split(b"\n")
                if line.startswith(b"data:")
            )
            events.append((raw, payload))

    def event_type(self, raw: bytes) -> bytes | None:
        for line in raw.split(b"\n"):
            if line.startswith(b"event:"):
                return line[6:].strip()
        return None


def sse_encode(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"
