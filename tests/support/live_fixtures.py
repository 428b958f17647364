"""Live fixtures shared by the proxy, identity and policy tests: a gateway, a fake upstream, a tenant."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import openai
import pytest

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
