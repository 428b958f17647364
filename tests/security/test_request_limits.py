"""Size and depth limits on request bodies: a body too large is a 413 before it is read in
full, a body nested too deep a 400 — never a 500, never anything sent upstream."""

from __future__ import annotations

import socket

import pytest

from forensics.models import RequestLog
from proxy.request_body import MAX_JSON_DEPTH
from tests import factories
from tests.api.support import client_for
from tests.support.live_fixtures import chat

MIB = 1024 * 1024


def nested(depth: int) -> bytes:
    """A chat body whose first message content is ``depth`` levels of lists deep."""
    inner = b"[" * depth + b"]" * depth
    return b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi", "x": ' + inner + b"}]}"


def post(world, content, **headers):
    with world.http(**{"X-API-Key": world.secret, "Content-Type": "application/json", **headers}) as client:
        return client.post("/v1/chat/completions", content=content)


def test_it_refuses_a_body_over_one_mebibyte_with_413_and_records_it(world):
    body = chat(messages=[{"role": "user", "content": "x" * MIB}])

    with world.http(**{"X-API-Key": world.secret}) as client:
        response = client.post("/v1/chat/completions", json=body)

    assert response.status_code == 413
    error = response.json()["error"]
    assert (error["code"], error["type"]) == ("request_too_large", "invalid_request_error")
    assert RequestLog.objects.get(id=response.headers["x-request-id"]).status_code == 413
    assert world.upstream.requests == []


def test_it_refuses_an_oversized_body_sent_without_a_length(world):
    def chunks():
        yield b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "'
        for _ in range(20):
            yield b"x" * (64 * 1024)
        yield b'"}]}'

    response = post(world, chunks())

    assert response.status_code == 413
    assert world.upstream.requests == []


def test_it_refuses_a_declared_length_over_the_limit_without_reading_the_body(world):
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\nX-API-Key: {world.secret}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {MIB + 1}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", world.gateway.port), timeout=5) as sock:
        sock.sendall(head.encode() + b"{}")  # the rest never comes: the answer must not wait for it
        status_line = sock.recv(4096).split(b"\r\n", 1)[0]

    assert status_line.split()[1] == b"413"


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH, 1_000, 100_000])
def test_it_refuses_a_body_nested_too_deep_with_400(world, depth):
    response = post(world, nested(depth))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert world.upstream.requests == []


def test_it_accepts_a_body_nested_within_the_limit(world):
    assert post(world, nested(MAX_JSON_DEPTH - 5)).status_code == 200


@pytest.fixture
def org_api(tenant):
    return client_for(factories.make_org_key(tenant)[1])


def test_it_refuses_a_management_body_nested_a_little_too_deep_with_400(org_api):
    response = org_api.generic("POST", "/v1/agents", '{"name": ' + "[" * 100 + "]" * 100 + "}", "application/json")

    assert response.status_code == 400


def test_it_refuses_a_management_body_nested_far_too_deep_with_400(org_api):
    response = org_api.generic(
        "POST", "/v1/agents", '{"name": ' + "[" * 100_000 + "]" * 100_000 + "}", "application/json"
    )

    assert response.status_code == 400


def test_it_refuses_an_oversized_management_body_with_413(org_api):
    response = org_api.generic("POST", "/v1/agents", '{"name": "' + "x" * (3 * MIB) + '"}', "application/json")

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


def test_it_refuses_a_management_body_over_max_request_bytes_with_413(org_api, settings):
    """The Django side's own check (``DATA_UPLOAD_MAX_MEMORY_SIZE``) is the proxy's limit too."""
    description = "x" * (settings.MAX_REQUEST_BYTES + MIB // 2)

    response = org_api.generic("POST", "/v1/agents", '{"name": "n", "description": "' + description + '"}',
                               "application/json")  # fmt: skip

    assert response.status_code == 413
    assert response.json()["error"]["message"] == f"request body exceeds {settings.MAX_REQUEST_BYTES} bytes"
