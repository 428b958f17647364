"""Live fixtures shared by the proxy, identity and policy tests: a gateway, a fake upstream, a tenant."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import openai
import pytest

from forensics.models import RequestLog
from tests import factories
from tests.support.servers import FakeUpstream, GatewayServer

UPSTREAM_SECRET = "sk-upstream-provider-secret-123"


@pytest.fixture
def upstream():
    server = FakeUpstream().start()
    yield server
    server.stop()


@pytest.fixture
def gateway(transactional_db):
    server = GatewayServer().start()
    yield server
    server.stop()


@dataclass
class World:
    """One tenant wired to the fake upstream: default app, agent, tenant-scoped key, provider."""

    tenant: object
    app: object
    agent: object
    key: object
    secret: str
    provider: object
    gateway: GatewayServer
    upstream: FakeUpstream

    def http(self, **headers: str) -> httpx.Client:
        return httpx.Client(base_url=self.gateway.url, headers=headers, timeout=10)

    def sdk(self, api_key: str | None = None, base_path: str = "/v1", **kwargs) -> openai.OpenAI:
        return openai.OpenAI(
            api_key=api_key or self.secret, base_url=self.gateway.url + base_path, max_retries=0, timeout=10, **kwargs
        )


@pytest.fixture
def world(gateway, upstream) -> World:
    tenant = factories.make_tenant("Proxy Org")
    app = factories.make_app(tenant, slug="proxy-app", is_default=True)
    agent = factories.make_agent(tenant)
    key, secret = factories.make_key(agent)
    provider = factories.make_provider(
        tenant, kind="openai", base_url=upstream.url + "/v1", api_key=UPSTREAM_SECRET, timeout_seconds=2
    )
    return World(tenant, app, agent, key, secret, provider, gateway, upstream)


def chat(model: str = "gpt-4o-mini", **extra) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": "Hi"}], **extra}


@dataclass
class DroppedStream:
    """A stream a client read part of, then left: its id and the chunks it had received."""

    request_id: str
    chunks: list[dict]

    @property
    def text(self) -> str:
        return streamed_text(self.chunks)


def streamed_text(chunks: list[dict]) -> str:
    """The text of OpenAI stream chunks, as a client joins it."""
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))


def stream_then_drop(
    world: World, body: dict, until: Callable[[list[dict]], bool], path: str = "/v1/chat/completions"
) -> DroppedStream:
    """Read a stream's chunks until ``until(chunks)`` holds, then close the connection, as a
    client that has what it wanted (or gives up) does; waits for the request's record."""
    chunks: list[dict] = []
    with (
        httpx.Client(base_url=world.gateway.url, timeout=10) as client,
        client.stream("POST", path, json=body, headers={"X-API-Key": world.secret}) as response,
    ):
        assert response.status_code == 200, response.read()
        request_id = response.headers["x-request-id"]
        for line in response.iter_lines():
            if line.startswith("data: {"):
                chunks.append(json.loads(line[6:]))
                if until(chunks):
                    break
        else:
            raise AssertionError(f"the stream ended before the client left it: {chunks}")
    deadline = time.monotonic() + 5
    while not RequestLog.objects.filter(id=request_id).exists():
        assert time.monotonic() < deadline, "the dropped stream left no record"
        time.sleep(0.02)
    return DroppedStream(request_id, chunks)
