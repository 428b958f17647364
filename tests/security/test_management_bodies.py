"""The management API through a real server: bodies are bounded by ``MAX_REQUEST_BYTES`` like
the proxy's (SPEC 4: 413 with the envelope), a chunked body is read (not taken as empty),
and any path under /v1/ or /apps/ that nothing serves answers the JSON 404 (SPEC 3),
DEBUG on or off."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest
from django.conf import settings

from apps.models import GuardrailPolicy
from identity.models import Agent
from tests import factories

MIB = 1024 * 1024
WRITES = ["POST", "PATCH", "PUT"]


@pytest.fixture
def admin(world) -> httpx.Client:
    _, secret = factories.make_org_key(world.tenant, role="admin")
    with world.http(Authorization=f"Bearer {secret}") as client:
        yield client


def target(world, method: str) -> str:
    """A real endpoint taking ``method``: agents for POST and PATCH, guardrails for PUT."""
    return {
        "POST": "/v1/agents",
        "PATCH": f"/v1/agents/{world.agent.id}",
        "PUT": f"/v1/apps/{world.app.id}/guardrails",
    }[method]


def body_of(method: str, filler: str) -> bytes:
    """A valid body of ``method``'s endpoint carrying ``filler``."""
    if method == "PUT":
        return b'{"pii": "redact", "blocked_patterns": [{"name": "n", "pattern": "' + filler.encode() + b'"}]}'
    return b'{"name": "chunked-agent", "description": "' + filler.encode() + b'"}'


def chunked(body: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    """A generator body: httpx sends it with Transfer-Encoding: chunked and no length."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def assert_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text[:300]
    error = response.json()["error"]
    assert (error["code"], error["reason"], error["type"]) == (
        "request_too_large",
        "request_too_large",
        "invalid_request_error",
    )
    assert error["request_id"].startswith("req_")
    assert response.headers["x-request-id"] == error["request_id"]


def state(world) -> tuple:
    """What a refused write must leave as it was."""
    agent = Agent.objects.get(pk=world.agent.pk)
    guardrails = GuardrailPolicy.objects.filter(app=world.app).values_list("pii", "blocked_patterns").first()
    return Agent.objects.count(), agent.description, guardrails


@pytest.mark.parametrize("method", WRITES)
def test_it_refuses_a_management_body_of_one_and_a_half_mebibytes_with_413(world, admin, method):
    before = state(world)

    response = admin.request(
        method, target(world, method), content=body_of(method, "x" * (3 * MIB // 2)),
        headers={"Content-Type": "application/json"},
    )  # fmt: skip

    assert_too_large(response)
    assert state(world) == before


@pytest.mark.parametrize("method", WRITES)
def test_it_refuses_a_chunked_management_body_over_the_limit_with_413(world, admin, method):
    before = state(world)

    response = admin.request(
        method, target(world, method), content=chunked(body_of(method, "x" * (3 * MIB // 2))),
        headers={"Content-Type": "application/json"},
    )  # fmt: skip

    assert_too_large(response)
    assert state(world) == before


def test_it_refuses_a_declared_management_length_over_the_limit_without_reading_the_body(world, admin):
    head = (
        f"POST /v1/agents HTTP/1.1\r\nHost: gateway\r\nAuthorization: {admin.headers['Authorization']}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {settings.MAX_REQUEST_BYTES + 1}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", world.gateway.port), timeout=5) as sock:
        sock.sendall(head.encode() + b"{}")  # the rest never comes: the answer must not wait for it
        status_line = sock.recv(4096).split(b"\r\n", 1)[0]

    assert status_line.split()[1] == b"413"


def test_it_accepts_a_management_body_just_under_the_limit(world, admin):
    body = body_of("POST", "y" * (settings.MAX_REQUEST_BYTES - 100))
    assert len(body) <= settings.MAX_REQUEST_BYTES

    response = admin.post("/v1/agents", content=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 201, response.text[:300]
    assert len(Agent.objects.get(pk=response.json()["id"]).description) == settings.MAX_REQUEST_BYTES - 100


def test_it_reads_a_chunked_post_body(world, admin):
    response = admin.post(
        "/v1/agents", content=chunked(body_of("POST", "made in chunks"), size=7),
        headers={"Content-Type": "application/json"},
    )  # fmt: skip

    assert response.status_code == 201, response.text[:300]
    assert Agent.objects.get(pk=response.json()["id"]).description == "made in chunks"


def test_it_reads_a_chunked_patch_body(world, admin):
    response = admin.patch(
        target(world, "PATCH"), content=chunked(b'{"description": "patched in chunks"}', size=5),
        headers={"Content-Type": "application/json"},
    )  # fmt: skip

    assert response.status_code == 200, response.text[:300]
    assert response.json()["description"] == "patched in chunks"
    assert Agent.objects.get(pk=world.agent.pk).description == "patched in chunks"


def test_it_reads_a_chunked_put_body(world, admin):
    response = admin.put(
        target(world, "PUT"), content=chunked(body_of("PUT", "forbidden-word"), size=9),
        headers={"Content-Type": "application/json"},
    )  # fmt: skip

    assert response.status_code == 200, response.text[:300]
    stored = GuardrailPolicy.objects.get(app=world.app)
    assert (stored.pii, stored.blocked_patterns) == ("redact", [{"name": "n", "pattern": "forbidden-word"}])


UNKNOWN_PATHS = [
    ("GET", "/v1/nothing-here"),
    ("GET", "/v1/agents/ag_x/nothing"),
    ("POST", "/v1/nothing-here"),
    ("DELETE", "/v1/chat"),
    ("GET", "/v1"),
    ("GET", "/apps/proxy-app/v1/nothing"),
    ("POST", "/apps/proxy-app/nothing"),
    ("GET", "/apps/"),
    ("GET", "/apps/" + "s" * 65 + "/v1/chat/completions"),
]


@pytest.mark.parametrize("debug", [True, False], ids=["debug-on", "debug-off"])
@pytest.mark.parametrize(("method", "path"), UNKNOWN_PATHS)
def test_it_answers_an_unknown_path_with_the_json_404(world, settings, debug, method, path):
    settings.DEBUG = debug

    with world.http() as client:
        response = client.request(method, path, content=b"{}" if method == "POST" else None)

    assert response.status_code == 404, response.text[:300]
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert (error["code"], error["type"]) == ("not_found", "not_found_error")
    assert error["request_id"].startswith("req_")
    assert "<html" not in response.text.lower()


def test_it_still_serves_the_console_404_page_outside_the_api(world, settings):
    settings.DEBUG = False

    with world.http() as client:
        response = client.get("/admin-nothing-here")

    assert response.status_code == 404
    assert not response.headers["content-type"].startswith("application/json")


def test_it_still_leaves_the_proxy_paths_to_the_proxy(world):
    with world.http(**{"X-API-Key": world.secret}) as client:
        models = client.get("/apps/proxy-app/v1/models")

    assert models.status_code == 200
    assert models.json()["object"] == "list"


def test_it_answers_an_oversized_console_post_with_a_plain_413(world):
    with world.http() as client:
        response = client.post(
            "/admin/login/", content=b"username=a&password=" + b"x" * (settings.MAX_REQUEST_BYTES + 1),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )  # fmt: skip

    assert response.status_code == 413
    assert response.headers["content-type"].startswith("text/plain")


def test_it_reads_a_chunked_body_within_the_limit_whatever_content_length_it_also_declares():
    """``Content-Length: 10`` beside ``Transfer-Encoding: chunked``: the chunks frame the body
    (h11 lets chunked win), so the declared length must not let it through unread."""
    import asyncio

    from config.django_bodies import BoundedBodyApplication

    reached, sent = [], []

    async def django(scope, receive, send) -> None:  # stands for Django: notes what reaches it
        reached.append(scope)

    async def receive():
        return {"type": "http.request", "body": b"x" * 65536, "more_body": True}

    async def send(message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/agents",
             "headers": [(b"content-length", b"10"), (b"transfer-encoding", b"chunked")]}  # fmt: skip
    asyncio.run(BoundedBodyApplication(django, limit=1024 * 1024)(scope, receive, send))
    assert reached == []
    assert sent[0]["status"] == 413
