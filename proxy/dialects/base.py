"""What the pipeline asks of a dialect: a client-facing API format other than OpenAI chat
completions (Anthropic Messages, SPEC 3.8; OpenAI Responses, SPEC 3.9).

A dialect request goes through every stage of the chat path. The dialect says what its body
means to those stages (the model, whether it streams, the prompt's size, its texts for the
guardrails, the completion it may ask for), and how it reaches a provider:

- **natively** to the provider kinds in ``native_kinds``: the body goes upstream as it came
  (the routed model in place of the client's), the answer comes back as the provider sent
  it, and the dialect only reads its usage;
- **through the chat form** to every other kind: ``chat_body`` turns the request into an
  OpenAI chat request, which the kind's adapter translates as for any chat client, and the
  OpenAI answer (JSON, or the chunks every adapter's ``StreamTranslator`` hands over through
  its ``sink``) is turned into the dialect's answer.

The chat-form hooks (``chat_answer``, ``chat_stream``) get the request's body as well, after
the guardrails' redaction: a dialect's answer may repeat the request's settings (a Response
echoes its ``instructions``, ``tools``, ``temperature``, …), which the chat answer no longer
carries.

Errors go out in the dialect's envelope: ``error_body`` before the answer has started, and
:meth:`DialectStream.error_event` once it has, since an event may have to continue the
stream's own numbering (the Responses API's ``sequence_number``), which only the stream
knows. A dialect stream never sends its own last event by itself: the pipeline asks for it
with :meth:`DialectStream.ending` once the request's record is committed, as it holds back
``data: [DONE]`` on chat.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from proxy.adapters.base import StreamTranslator, UpstreamCall, Usage
from proxy.config_snapshot import ProviderEntry
from proxy.guardrails import TextSlot


class DialectStream(StreamTranslator, Protocol):
    """A :class:`StreamTranslator` whose output is the dialect's events, plus its ending."""

    complete: bool

    def ending(self, failed: bool) -> bytes:
        """The stream's last bytes, sent once the record is committed (Anthropic's
        ``message_stop``). ``failed``: the stream already ended on an error event."""

    def error_event(self, status: int, code: str, message: str, reason: str, request_id: str | None) -> bytes:
        """An error the pipeline itself ends the stream with (a provider that broke off, a
        record that could not be written), as the stream's next event in the dialect's shape."""


class Dialect(Protocol):
    # The record's ``endpoint`` (SPEC 6), also the path: ``/v1/{endpoint}``.
    endpoint: str
    # What scopes and ``allowed_endpoints`` see (SPEC 3.4 knows chat, embeddings, models).
    policy_endpoint: str
    # Provider kinds that take the body as it came.
    native_kinds: frozenset[str]

    def body_check(self, body: dict[str, Any]) -> tuple[str, bool, int]:
        """The model, whether a stream is asked for, and the prompt's characters; bad input
        raises the SPEC's 400."""

    def max_output_tokens(self, body: dict[str, Any]) -> int | None:
        """The completion the request asks for at most (policy caps and token reservations)."""

    def text_slots(self, body: dict[str, Any]) -> Iterator[TextSlot]:
        """Every text the request carries toward the model (SPEC 3.5)."""

    def chat_body(self, body: dict[str, Any]) -> dict[str, Any]:
        """The request in the chat form, for the kinds that are not native; what the chat
        form cannot carry raises ``400 invalid_request``, reason ``unsupported_parameter``."""

    def chat_answer(self, payload: dict[str, Any], model: str, body: dict[str, Any]) -> dict[str, Any]:
        """An OpenAI chat completion → the dialect's answer; ``body`` is the request (redacted)."""

    def chat_stream(self, inner: StreamTranslator, model: str, body: dict[str, Any]) -> DialectStream:
        """Wraps the adapter's translator (OpenAI chunk SSE out) so it emits the dialect's events;
        ``body`` is the request (redacted)."""

    def native_request(self, adapter: Any, provider: ProviderEntry, model: str, body: dict[str, Any]) -> UpstreamCall:
        """The upstream call of a native kind: ``body`` as it came, ``model`` in place."""

    def native_answer(self, payload: dict[str, Any], model: str) -> tuple[dict[str, Any], Usage]:
        """A native JSON answer as it goes to the client, and the usage read from it."""

    def native_stream(self, model: str, prompt_chars: int) -> DialectStream:
        """Passes a native stream through event by event, reading its usage."""

    def error_body(self, status: int, code: str, message: str, reason: str, request_id: str | None) -> dict[str, Any]:
        """The dialect's error envelope carrying SPEC 4's fields."""


class ChatFormStream:
    """Base of the wrappers that turn OpenAI chunks into a dialect's events.

    The inner translator is the provider adapter's (or the passthrough of a local kind); it
    keeps counting usage and telling whether the provider finished, and hands its chunks over
    as objects through its ``sink`` rather than as SSE text this wrapper would split and
    parse again. Subclasses implement :meth:`chunk` (one OpenAI chunk → events),
    :meth:`failure` (the inner translator's error chunk → the dialect's error event),
    :meth:`finish` (events once the provider's stream is over), :meth:`error_event` and
    :meth:`ending`. ``request`` is the client's body (redacted).
    """

    def __init__(self, inner: StreamTranslator, model: str, request: dict[str, Any]) -> None:
        self.inner = inner
        self.model = model
        self.request = request
        self._chunks: list[dict[str, Any]] = []
        inner.sink = self._chunks

    @property
    def usage(self) -> Usage:
        return self.inner.usage

    @property
    def error(self) -> str | None:
        return self.inner.error

    @property
    def complete(self) -> bool:
        return bool(getattr(self.inner, "complete", getattr(self.inner, "finished", True)))

    def spent(self) -> Usage:
        return self.inner.spent()

    def feed(self, data: bytes) -> list[bytes]:
        self.inner.feed(data)
        return self._translate()

    def close(self) -> list[bytes]:
        self.inner.close()
        out = self._translate()
        if self.inner.error is None and self.complete:
            out.extend(self.finish())
        return out

    def _translate(self) -> list[bytes]:
        if not self._chunks:
            return []
        out: list[bytes] = []
        for chunk in self._chunks:
            if "error" in chunk:
                error = chunk["error"] if isinstance(chunk["error"], dict) else {"message": str(chunk["error"])}
                out.extend(self.failure(error))
            else:
                out.extend(self.chunk(chunk))
        self._chunks.clear()
        return out

    def chunk(self, chunk: dict[str, Any]) -> list[bytes]:
        raise NotImplementedError

    def failure(self, error: dict[str, Any]) -> list[bytes]:
        raise NotImplementedError

    def finish(self) -> list[bytes]:
        raise NotImplementedError

    def error_event(self, status: int, code: str, message: str, reason: str, request_id: str | None) -> bytes:
        raise NotImplementedError

    def ending(self, failed: bool) -> bytes:
        raise NotImplementedError
