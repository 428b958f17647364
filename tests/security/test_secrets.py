"""Secrets: compared in constant time, looked up by keyed digest, and never written to a log
line or an error body, whatever path a request takes."""

from __future__ import annotations

import hashlib
import hmac
import logging

import httpx
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.actors import SYSTEM
from keys import secrets
from keys.secrets import AGENT_KEY_PREFIX, DISPLAY_CHARS, secret_digest
from keys.services import key_revoke, key_verify, org_key_verify
from proxy.config_loading import key_entry_load
from tests import factories
from tests.support.live_fixtures import UPSTREAM_SECRET, chat

LOGGERS = ("", "django", "django.request", "django.server", "uvicorn", "uvicorn.error", "uvicorn.access",
           "aiohttp", "proxy", "identity", "keys", "forensics", "core", "apps", "tenants")  # fmt: skip


CLIENT_LOGGERS = ("httpx", "httpcore")


def hidden_part(secret: str) -> str:
    """What must never be shown: everything past the display prefix (SPEC 2)."""
    return secret[len(AGENT_KEY_PREFIX) + DISPLAY_CHARS :] if secret.startswith("aid_") else secret


def test_it_compares_key_and_org_key_digests_in_constant_time(tenant, monkeypatch):
    _, agent_secret = factories.make_key(factories.make_agent(tenant))
    _, org_secret = factories.make_org_key(tenant)
    compared: list[tuple[str, str]] = []
    constant_time = hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return constant_time(a, b)

    monkeypatch.setattr(secrets.hmac, "compare_digest", spy)

    key_verify(agent_secret)
    org_key_verify(org_secret)

    assert compared == [(secret_digest(agent_secret),) * 2, (secret_digest(org_secret),) * 2]


def test_it_looks_credentials_up_by_a_keyed_digest_and_never_by_the_secret(tenant, settings):
    _, agent_secret = factories.make_key(factories.make_agent(tenant))
    _, org_secret = factories.make_org_key(tenant)

    with CaptureQueriesContext(connection) as queries:
        key_verify(agent_secret)
        org_key_verify(org_secret)
        assert key_entry_load(secret_digest(agent_secret)) is not None
    sql = "\n".join(q["sql"] for q in queries.captured_queries)

    for secret in (agent_secret, org_secret):
        assert hidden_part(secret) not in sql
        assert secret_digest(secret) in sql
        assert secret_digest(secret) != hashlib.sha256(secret.encode()).hexdigest()  # keyed, not a plain hash
    settings.KEY_HASH_SECRET = "another-server-secret"
    assert secret_digest(agent_secret) not in sql  # the digest depends on the server's secret


@pytest.fixture
def every_log_line(caplog):
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def scan(caplog, secrets_: dict[str, str]) -> None:
    lines = []
    # The test's own HTTP client logs the URLs it calls; only the gateway's lines are judged.
    for record in (r for r in caplog.records if not r.name.startswith(CLIENT_LOGGERS)):
        lines.append(record.getMessage())
        lines.append(logging.Formatter().formatException(record.exc_info) if record.exc_info else "")
        lines.extend(str(value) for value in vars(record).values())
    text = "\n".join(lines)
    assert len(caplog.records) > 10, "the run logged nothing: the scan would prove nothing"
    leaked = [name for name, secret in secrets_.items() if hidden_part(secret) in text]
    assert not leaked, f"secrets in the logs: {leaked}"


def test_it_writes_no_secret_to_any_log_line_or_error_body(world, jwt_world, every_log_line):
    tenant, gateway = world.tenant, world.gateway.url
    _, org_secret = factories.make_org_key(tenant)
    revoked, revoked_secret = factories.make_key(world.agent)
    key_revoke(key=revoked, actor=SYSTEM)
    query_app = factories.make_app(tenant, key_name="api_key", key_location="query")
    _, query_secret = factories.make_key(world.agent)
    token = jwt_world.token()
    factories.make_provider(
        tenant, kind="openai_compatible", base_url=world.upstream.url + "/leaky/v1", api_key="sk-leaky-provider-key-42",
        models=["leaky-*"],
    )  # fmt: skip
    world.upstream.behaviour["/leaky/v1/chat/completions"] = lambda r: {
        "status": 401, "json": {"error": {"message": f"Incorrect API key provided: {r.headers['Authorization'][7:]}"}},
    }  # fmt: skip
    world.upstream.behaviour["/v1/embeddings"] = lambda r: {"status": 500, "json": {"error": {"message": "boom"}}}
    bodies: list[str] = []

    with httpx.Client(base_url=gateway, timeout=10) as client:
        key = {"X-API-Key": world.secret}
        for response in (
            client.get("/v1/models", headers={"Authorization": f"Bearer {world.secret}"}),
            client.post("/v1/chat/completions", headers=key, json=chat()),
            client.post("/v1/chat/completions", headers=key, json=chat(stream=True)),
            client.post("/v1/embeddings", headers=key, json={"model": "text-embedding-3-small", "input": "x"}),
            client.post("/v1/chat/completions", headers=key, json=chat("leaky-1")),
            client.post("/v1/chat/completions", headers=key, content=b"{not json"),
            client.post("/v1/chat/completions", headers={"X-API-Key": world.secret + "x"}, json=chat()),
            client.post("/v1/chat/completions", headers={"X-API-Key": revoked_secret}, json=chat()),
            client.post("/v1/chat/completions", headers={"X-API-Key": org_secret}, json=chat()),
            client.get(f"/apps/{query_app.slug}/v1/models", params={"api_key": query_secret}),
            client.get(f"/apps/{query_app.slug}/v1/models", params={"api_key": query_secret + "x"}),
            client.get("/v1/agents", headers={"Authorization": f"Bearer {org_secret}"}),
            client.get("/v1/agents", headers={"Authorization": f"Bearer {org_secret}x"}),
            client.get("/v1/agents", headers={"Authorization": f"Bearer {world.secret}"}),
        ):
            assert response.status_code < 500 or response.status_code == 502
            bodies.append(response.text)
        created = client.post(
            f"/v1/agents/{world.agent.id}/keys", headers={"Authorization": f"Bearer {org_secret}"}, json={"name": "new"}
        )
        assert created.status_code == 201
    for response in (jwt_world.call(token), jwt_world.call(token[:-4] + "AAAA"), jwt_world.call("a.b.c")):
        bodies.append(response.text)

    secrets_ = {
        "agent key": world.secret, "revoked key": revoked_secret, "query key": query_secret, "org key": org_secret,
        "provider key": UPSTREAM_SECRET, "leaky provider key": "sk-leaky-provider-key-42", "jwt": token,
        "jwt signature": token.rsplit(".", 1)[1], "new key": created.json()["key"],
    }  # fmt: skip
    scan(every_log_line, secrets_)
    leaked = [name for name, secret in secrets_.items() if any(hidden_part(secret) in body for body in bodies)]
    assert not leaked, f"secrets in error bodies: {leaked}"
