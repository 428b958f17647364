"""Every parser on the request path, fed hostile input by Hypothesis: it either answers or
refuses with the SPEC's error (a ``GatewayError`` or a ``ValidationError``), never anything
unexpected — an unexpected exception on the proxy is a 500, or worse a broken stream."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import GatewayError
from core.validation import TOKEN_ID_RE, globs_clean, is_email
from proxy.access import patterns_match_model
from proxy.adapters.openai_like import MAX_REPORTED_TOKENS, PassthroughStream, upstream_error_message, usage_of
from proxy.adapters.sse import SSEBuffer
from proxy.config_snapshot import AppEntry, GuardrailEntry, KeyEntry
from proxy.credentials import credential_find, credential_kind, strip_bearer
from proxy.end_user import client_request_id_read, conversation_id_read, header_identity_resolve
from proxy.http_io import headers_of, query_of
from proxy.jwt_verification import TokenVerifier
from proxy.request_body import MAX_JSON_DEPTH, chat_body_check, embeddings_body_check, json_body_parse
from proxy.request_context import RequestContext

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Header values arrive as latin-1 text (proxy.http_io.headers_of).
header_text = st.text(st.characters(min_codepoint=0, max_codepoint=255), max_size=300)
json_scalars = (
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)
chat_like = st.fixed_dictionaries(
    {},
    optional={
        "model": json_values | st.text(max_size=250),
        "messages": json_values
        | st.lists(st.fixed_dictionaries({"role": json_values | st.just("user")}, optional={"content": json_values})),
        "stream": json_values,
        "max_tokens": json_values,
        "max_completion_tokens": json_values,
        "input": json_values,
    },
)
base64url = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", max_size=80)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def attempt(check, *args):
    """``(result, None)``, or ``(None, error)`` when ``check`` refuses with the SPEC's error."""
    try:
        return check(*args), None
    except GatewayError as refused:
        return None, refused


def context(**headers: str) -> RequestContext:
    return RequestContext("POST", "/v1/chat/completions", "chat", None, headers, {}, "127.0.0.1")


def app_entry(**fields) -> AppEntry:
    values = {
        "id": "app_x", "slug": "x", "is_default": True, "key_name": "X-API-Key", "key_location": "header",
        "identity_header_mode": True, "enforce_identity": False, "allowed_user_domains": None, "scope_prefix": "",
        "jwt": None, "capture_bodies": False, "body_capture_max_bytes": 0, "guardrails": GuardrailEntry(),
    }  # fmt: skip
    return AppEntry(**{**values, **fields})


# --- Credentials (SPEC 3.1) ---------------------------------------------------------------


@FAST
@given(header_text)
def test_it_strips_bearer_from_anything(value):
    stripped = strip_bearer(value)

    assert stripped == stripped.strip()
    assert not stripped.lower().startswith("bearer ") or value.strip().lower().startswith("bearer bearer")


@FAST
@given(
    st.dictionaries(st.sampled_from(["authorization", "x-api-key", "x-token", "other"]), header_text),
    st.dictionaries(header_text, header_text, max_size=3),
    st.none() | st.sampled_from(["Authorization", "X-API-Key", "X-Token", "token"]),
    st.sampled_from(["header", "query"]),
)
def test_it_finds_a_credential_or_none_in_any_headers(headers, query, key_name, key_location):
    secret = credential_find(headers, query, key_name=key_name, key_location=key_location)

    assert secret is None or (secret and secret == secret.strip())
    assert credential_kind(secret or "") in ("agent_key", "org_key", "jwt", "unknown")


@FAST
@given(header_text | st.text(max_size=9000))
def test_it_tells_the_kind_of_any_credential(secret):
    kind = credential_kind(secret)

    assert kind in ("agent_key", "org_key", "jwt", "unknown")
    if kind == "jwt":
        parts = secret.split(".")
        assert len(parts) == 3
        assert len(secret) < 8192


@FAST
@given(base64url.filter(bool), base64url.filter(bool), base64url)
def test_it_takes_three_base64url_parts_for_a_jwt(header, payload, signature):
    assert credential_kind(f"{header}.{payload}.{signature}") == "jwt"


@SLOW
@given(json_values, json_values, st.binary(max_size=64))
def test_it_refuses_any_hostile_jwt_with_a_401(header, claims, signature):
    token = ".".join([b64url(json.dumps(header).encode()), b64url(json.dumps(claims).encode()), b64url(signature)])
    pem = (
        "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEVs/o5+uQbTjL3chynL4wXgUg2R9\n"
        "q9UU8I5mEovUf86QZ7kOBIjJwqnzD1omageEHWwHdBO6B+dFabmdT9POxg==\n-----END PUBLIC KEY-----\n"
    )
    app = app_entry(jwt={"agent_id": "ag_x", "public_key_pem": pem, "algorithms": ["ES256"]})

    with pytest.raises(GatewayError) as refused:
        asyncio.run(TokenVerifier().verify(app, token))

    assert (refused.value.status, refused.value.code) == (401, "unauthorized")
    assert refused.value.reason in ("invalid_token", "token_expired", "invalid_claims")


# --- Identity headers (SPEC 3.3, 3.7) -----------------------------------------------------


@FAST
@given(header_text | st.emails())
def test_it_judges_any_text_as_an_email_or_not(value):
    if is_email(value):
        assert len(value) <= 254
        local, _, domain = value.rpartition("@")
        assert local
        assert "." in domain


@FAST
@given(header_text)
def test_it_matches_token_ids_exactly(value):
    matched = TOKEN_ID_RE.match(value) is not None

    assert matched == (1 <= len(value) <= 128 and all(c.isascii() and (c.isalnum() or c in "._:-") for c in value))


@FAST
@given(header_text | st.emails(), st.none() | st.lists(st.sampled_from(["example.com", "x.org"]), max_size=2))
def test_it_reads_any_user_email_header_or_refuses_it_cleanly(value, domains):
    ctx = context(**{"x-user-email": value})
    app = app_entry(allowed_user_domains=tuple(domains) if domains is not None else None)

    _, refused = attempt(header_identity_resolve, ctx, app, None)

    if refused is not None:
        assert (refused.status, refused.reason) in ((400, "invalid_user_email"), (403, "domain_not_allowed"))
    else:
        assert ctx.user == value.strip().lower()
        assert ctx.identity_source == "header"


@FAST
@given(header_text, header_text)
def test_it_reads_any_conversation_and_request_id_or_refuses_cleanly(conversation, request_id):
    ctx = context(**{"x-conversation-id": conversation, "x-request-id": request_id})

    client_request_id_read(ctx)
    _, refused = attempt(conversation_id_read, ctx)

    assert refused is None or (refused.status, refused.reason) == (400, "invalid_conversation_id")
    assert ctx.client_request_id in (None, request_id)


@FAST
@given(
    st.lists(st.tuples(st.binary(max_size=40), st.binary(max_size=200)), max_size=8),
    st.binary(max_size=300),
)
def test_it_reads_any_raw_headers_and_query(raw_headers, raw_query):
    headers = headers_of({"headers": raw_headers})
    query = query_of({"query_string": raw_query})

    assert all(name == name.lower() for name in headers)
    assert isinstance(query, dict)


@FAST
@given(
    st.builds(
        lambda header_mode, enforce, domains: KeyEntry(
            "key_x", "tn_x", "ag_x", None, frozenset(), None, header_mode, enforce, domains, None, None
        ),
        st.none() | st.booleans(),
        st.none() | st.booleans(),
        st.none() | st.just(()) | st.just(("example.com",)),
    ),
    header_text,
)
def test_it_applies_key_overrides_of_identity_settings_to_any_header(key, value):
    ctx = context(**{"x-user-email": value})

    app = app_entry(identity_header_mode=False, enforce_identity=True)

    _, refused = attempt(header_identity_resolve, ctx, app, key)

    assert refused is None or refused.status in (400, 403)


# --- Globs (SPEC 3.4) ---------------------------------------------------------------------


@FAST
@given(st.lists(st.text(max_size=60), max_size=5) | json_values, st.text(max_size=220))
def test_it_validates_any_globs_and_matches_any_model_against_the_valid_ones(patterns, model):
    try:
        valid = globs_clean(patterns)
    except ValidationError:
        return
    allowed = patterns_match_model(tuple(valid) if valid is not None else None, model)

    assert isinstance(allowed, bool)
    if valid is None or model in valid:
        assert allowed


# --- Server-sent events and provider answers (SPEC 3.6) -----------------------------------


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


sse_stream = st.lists(
    st.one_of(
        json_values.map(lambda v: b"data: " + json.dumps(v).encode() + b"\n\n"),
        st.binary(max_size=60),
        st.sampled_from([b"data: [DONE]\n\n", b": ping\n\n", b"\r\n", b"\n\n", b"data:", b"event: x\n", b"\r"]),
        st.builds(
            lambda text: b"data: " + json.dumps({"choices": [{"delta": {"content": text}}]}).encode() + b"\n\n",
            st.text(max_size=20),
        ),
    ),
    max_size=12,
).map(b"".join)


@FAST
@given(sse_stream, st.lists(st.integers(0, 10_000), max_size=6))
def test_it_splits_any_bytes_into_events(data, cuts):
    buffer = SSEBuffer()

    events = [event for piece in split(data, cuts) for event in buffer.feed(piece)]

    assert all(raw.endswith(b"\n\n") for raw, _ in events)


@FAST
@given(sse_stream, st.lists(st.integers(0, 10_000), max_size=6))
def test_it_splits_any_bytes_into_the_same_events_whatever_their_chunking(data, cuts):
    whole, pieces = SSEBuffer(), SSEBuffer()

    at_once = whole.feed(data)
    chunked = [event for piece in split(data, cuts) for event in pieces.feed(piece)]

    assert [payload for _, payload in chunked] == [payload for _, payload in at_once]


@FAST
@given(sse_stream, st.lists(st.integers(0, 10_000), max_size=6))
def test_it_relays_only_readable_events_of_any_stream_whatever_its_chunking(data, cuts):
    whole, pieces = PassthroughStream(prompt_chars=10), PassthroughStream(prompt_chars=10)

    at_once = b"".join([*whole.feed(data), *whole.close()])
    chunked = b"".join([*(out for piece in split(data, cuts) for out in pieces.feed(piece)), *pieces.close()])

    assert chunked == at_once
    assert b"[DONE]" not in chunked.replace(b"\r", b"")  # held back for the pipeline
    for raw in chunked.split(b"\n\n"):
        data_lines = [line[5:] for line in raw.split(b"\n") if line.startswith(b"data:")]
        if data_lines:
            assert isinstance(json.loads(b"\n".join(data_lines)), dict)
    assert 0 <= whole.usage.prompt_tokens <= MAX_REPORTED_TOKENS
    assert 0 <= whole.usage.completion_tokens <= MAX_REPORTED_TOKENS
    assert (whole.usage, whole.complete, whole.error) == (pieces.usage, pieces.complete, pieces.error)


@FAST
@given(json_values | st.fixed_dictionaries({"usage": st.dictionaries(st.sampled_from(
    ["prompt_tokens", "completion_tokens", "input_tokens", "output_tokens"]), json_values)}))  # fmt: skip
def test_it_reads_usage_from_any_answer_within_bounds(payload):
    usage = usage_of(payload) if isinstance(payload, dict) else None

    if usage is not None:
        assert 0 <= usage.prompt_tokens <= MAX_REPORTED_TOKENS
        assert 0 <= usage.completion_tokens <= MAX_REPORTED_TOKENS
        assert usage.reported


@FAST
@given(st.binary(max_size=2000) | json_values.map(lambda v: json.dumps(v).encode()))
def test_it_finds_a_message_in_any_error_body(body):
    message = upstream_error_message(body)

    assert isinstance(message, str)
    assert 0 < len(message) <= 500


# --- Request bodies (SPEC 3, 4) -----------------------------------------------------------


@FAST
@given(st.binary(max_size=500) | json_values.map(lambda v: json.dumps(v).encode()))
def test_it_parses_any_body_into_an_object_or_a_400(raw):
    body, refused = attempt(json_body_parse, raw)

    assert isinstance(body, dict) or (refused.status, refused.code) == (400, "invalid_request")


@FAST
@given(st.integers(1, 3000))
def test_it_refuses_bodies_nested_too_deep_with_a_400(depth):
    raw = b'{"a": ' * depth + b"1" + b"}" * depth  # depth objects around a value: depth + 1 levels

    body, refused = attempt(json_body_parse, raw)

    if depth + 1 > MAX_JSON_DEPTH:
        assert (refused.status, refused.code) == (400, "invalid_request")
    else:
        assert isinstance(body, dict)


@FAST
@given(chat_like)
def test_it_checks_any_chat_or_embeddings_body_or_answers_a_400(body):
    for check in (chat_body_check, embeddings_body_check):
        result, refused = attempt(check, body)

        if refused is not None:
            assert (refused.status, refused.code) == (400, "invalid_request")
        else:
            assert isinstance(result[0], str)
            assert result[-1] >= 0
