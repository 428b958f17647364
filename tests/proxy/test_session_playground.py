"""Console sessions on the proxy (credential ``session``), as the playground uses them."""

from __future__ import annotations

import httpx
import pytest
from django.conf import settings
from django.test import Client

from forensics.models import RequestLog
from tests import factories


@pytest.fixture
def mock_world(world):
    factories.make_provider(world.tenant, kind="mock", models=["mock-*"])
    return world


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


# The body of one user turn in each dialect the playground speaks (SPEC 3, 3.8, 3.9).
DIALECT_CALLS = {
    "chat": ("/v1/chat/completions", {"model": "mock-1", "messages": [{"role": "user", "content": "Hi"}]}),
    "messages": (
        "/v1/messages",
        {"model": "mock-1", "max_tokens": 64, "messages": [{"role": "user", "content": "Hi"}]},
    ),
    "responses": ("/v1/responses", {"model": "mock-1", "input": [{"role": "user", "content": "Hi"}]}),
}


def playground_call(
    world, cookie: str | None, agent_id: str | None, *, marker: bool = True, dialect: str = "chat", **headers
):
    sent = {"Cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}"} if cookie else {}
    if marker:
        sent["X-Aidgate-Playground"] = "1"
    if agent_id:
        sent["X-Agent-Id"] = agent_id
    sent.update(headers)
    path, body = DIALECT_CALLS[dialect]
    with httpx.Client(base_url=world.gateway.url, timeout=10) as client:
        return client.post(path, headers=sent, json=body)


def test_it_serves_a_console_user_as_a_session_credential(mock_world):
    user = factories.make_console_user(mock_world.tenant, email="Admin@Example.com")
    response = playground_call(mock_world, session_cookie(user), mock_world.agent.id)
    assert response.status_code == 200
    record = RequestLog.objects.get(id=response.headers["x-request-id"])
    assert (record.credential, record.identity_source, record.user) == ("session", "session", "admin@example.com")
    assert (record.agent_id, record.key_id, record.app_id) == (mock_world.agent.id, None, mock_world.app.id)


def test_it_refuses_a_session_without_the_playground_header(mock_world):
    user = factories.make_console_user(mock_world.tenant)
    response = playground_call(mock_world, session_cookie(user), mock_world.agent.id, marker=False)
    assert (response.status_code, response.json()["error"]["reason"]) == (401, "missing_credential")


def test_it_refuses_an_invalid_session(mock_world):
    response = playground_call(mock_world, "not-a-session", mock_world.agent.id)
    assert (response.status_code, response.json()["error"]["reason"]) == (401, "invalid_session")


def test_it_refuses_another_tenants_agent(mock_world, outsider):
    user = factories.make_console_user(mock_world.tenant)
    foreign = factories.make_agent(outsider)
    response = playground_call(mock_world, session_cookie(user), foreign.id)
    assert response.status_code == 403
    assert RequestLog.objects.filter(tenant_id=outsider.id).count() == 0


def test_the_session_request_is_limited_by_the_agents_policies(mock_world):
    factories.make_policy(mock_world.tenant, agent_ids=[mock_world.agent.id], allowed_models=["gpt-*"])
    user = factories.make_console_user(mock_world.tenant)
    response = playground_call(mock_world, session_cookie(user), mock_world.agent.id)
    assert response.json()["error"]["reason"] == "model_not_allowed"


def test_a_superuser_may_use_any_tenants_agent(mock_world):
    admin = factories.make_console_user(None, superuser=True)
    assert playground_call(mock_world, session_cookie(admin), mock_world.agent.id).status_code == 200


# --- the other dialects: the same session path, the same checks ---


@pytest.mark.parametrize("dialect", ["messages", "responses"])
def test_it_serves_a_console_session_in_each_dialect(mock_world, dialect):
    user = factories.make_console_user(mock_world.tenant, email="admin@example.com")
    response = playground_call(mock_world, session_cookie(user), mock_world.agent.id, dialect=dialect)
    assert response.status_code == 200
    record = RequestLog.objects.get(id=response.headers["x-request-id"])
    assert (record.endpoint, record.credential, record.user) == (dialect, "session", "admin@example.com")


@pytest.mark.parametrize("dialect", ["messages", "responses"])
def test_it_refuses_another_tenants_agent_in_each_dialect(mock_world, outsider, dialect):
    user = factories.make_console_user(mock_world.tenant)
    foreign = factories.make_agent(outsider)
    response = playground_call(mock_world, session_cookie(user), foreign.id, dialect=dialect)
    assert (response.status_code, response.json()["error"]["reason"]) == (403, "agent_not_allowed")
    if dialect == "messages":
        assert response.json()["type"] == "error"  # Anthropic's shape, the gateway's fields inside (SPEC 3.8)
    assert RequestLog.objects.filter(tenant_id=outsider.id).count() == 0


@pytest.mark.parametrize("dialect", ["messages", "responses"])
def test_it_refuses_a_session_without_the_playground_header_in_each_dialect(mock_world, dialect):
    user = factories.make_console_user(mock_world.tenant)
    response = playground_call(mock_world, session_cookie(user), mock_world.agent.id, marker=False, dialect=dialect)
    assert (response.status_code, response.json()["error"]["reason"]) == (401, "missing_credential")


@pytest.mark.parametrize("dialect", ["messages", "responses"])
def test_a_cross_site_preflight_is_never_granted_in_each_dialect(mock_world, dialect):
    # A cross-site page must preflight the custom header; a refused preflight is the CSRF defence.
    path, _body = DIALECT_CALLS[dialect]
    with httpx.Client(base_url=mock_world.gateway.url, timeout=10) as client:
        response = client.options(path, headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-aidgate-playground, x-agent-id, content-type",
        })  # fmt: skip
    assert response.status_code >= 400
    assert "access-control-allow-origin" not in response.headers
