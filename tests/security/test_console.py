"""The console's defences: sign-in throttling per user name and address, security headers
with a Content-Security-Policy that its own pages satisfy, and CSRF on every unsafe request
made with a session."""

from __future__ import annotations

import re
import secrets

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from tests import factories

LOGIN = "/admin/login/"


def random_address() -> str:
    """A documentation address of its own: no other test, nor another run sharing a Redis
    cache, ever counts failures against it."""
    return "2001:db8::" + ":".join(secrets.token_hex(2) for _ in range(4))


@pytest.fixture
def address() -> str:
    return random_address()


@pytest.fixture
def staff(tenant):
    return factories.make_console_user(tenant)


def sign_in(address: str, username: str, password: str, client: Client | None = None):
    client = client or Client(REMOTE_ADDR=address)
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=address)


def test_it_refuses_sign_in_after_five_failures_for_a_user_from_one_address(staff, address):
    for _ in range(5):
        assert sign_in(address, staff.username, "wrong").status_code == 200

    refused = sign_in(address, staff.username, "pw")  # the right password, too late

    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert "_auth_user_id" not in Client().session


def test_it_lets_the_same_user_in_from_another_address(staff, address):
    for _ in range(6):
        sign_in(address, staff.username, "wrong")

    assert sign_in(random_address(), staff.username, "pw").status_code == 302


def test_it_forgets_failures_after_a_successful_sign_in(staff, address):
    for _ in range(4):
        sign_in(address, staff.username, "wrong")
    assert sign_in(address, staff.username, "pw").status_code == 302

    for _ in range(4):
        assert sign_in(address, staff.username, "wrong").status_code == 200
    assert sign_in(address, staff.username, "pw").status_code == 302


def test_it_limits_failures_from_one_address_across_user_names(staff, address, settings):
    settings.LOGIN_FAILURES_PER_ADDRESS = 8
    for index in range(8):
        sign_in(address, f"guess{index}-{secrets.token_hex(4)}@example.com", "wrong")

    assert sign_in(address, staff.username, "pw").status_code == 429


def test_it_treats_user_names_alike_whatever_their_case_or_spaces(staff, address):
    for variant in ("A@x.io", "a@x.io ", " a@X.IO", "a@x.IO", "A@X.io"):
        assert sign_in(address, variant, "wrong").status_code == 200

    assert sign_in(address, "a@x.io", "wrong").status_code == 429


def test_it_still_lets_people_in_when_the_cache_is_down(staff, address, monkeypatch):
    def broken(*args, **kwargs):
        raise ConnectionError("cache down")

    for name in ("get_many", "add", "incr", "delete"):
        monkeypatch.setattr(cache, name, broken)

    assert sign_in(address, staff.username, "wrong").status_code == 200
    assert sign_in(address, staff.username, "pw").status_code == 302


def console_pages(client: Client, owned) -> list:
    return [
        client.get(reverse("admin:index")),
        client.get(reverse("admin:identity_agent_changelist")),
        client.get(reverse("admin:identity_agent_change", args=[owned.id])),
        client.get(reverse("admin:keys_key_add")),
    ]


def test_it_sends_security_headers_on_every_console_page(staff, agent):
    client = Client()
    client.force_login(staff)
    anonymous = Client().get(LOGIN)

    for response in [anonymous, *console_pages(client, agent)]:
        assert response.status_code == 200
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["Cross-Origin-Opener-Policy"] == "same-origin"
        policy = response["Content-Security-Policy"]
        for directive in ("default-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'self'"):
            assert directive in policy
        assert "'unsafe-inline'" not in re.search(r"script-src [^;]*", policy)[0]


def test_it_gives_every_inline_script_of_the_console_the_policys_nonce(staff, agent):
    client = Client()
    client.force_login(staff)

    for response in console_pages(client, agent):
        html = response.content.decode()
        nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"])
        for tag in re.findall(r"<script\b[^>]*>", html):
            if "src=" in tag or 'type="application/json"' in tag:
                continue
            assert nonce, f"an inline script, and no nonce in the policy: {tag}"
            assert f'nonce="{nonce[1]}"' in tag, f"an inline script the policy would block: {tag}"


def test_it_keeps_its_own_looser_policy_on_the_api_docs(client):
    policy = client.get("/api/docs")["Content-Security-Policy"]

    assert "frame-ancestors 'none'" in policy
    assert "connect-src 'self'" in policy


def test_it_marks_the_session_cookie_http_only_and_same_site(staff, address):
    response = sign_in(address, staff.username, "pw")

    cookie = response.cookies["sessionid"]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"


def test_it_refuses_a_console_sign_in_without_a_csrf_token(staff, address):
    client = Client(enforce_csrf_checks=True)

    forged = client.post(LOGIN, {"username": staff.username, "password": "pw"}, REMOTE_ADDR=address)
    page = client.get(LOGIN)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())[1]
    genuine = client.post(
        LOGIN, {"username": staff.username, "password": "pw", "csrfmiddlewaretoken": token}, REMOTE_ADDR=address
    )

    assert forged.status_code == 403
    assert genuine.status_code == 302


def test_it_refuses_a_console_change_without_a_csrf_token(staff, agent):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)

    response = client.post(reverse("admin:identity_agent_change", args=[agent.id]), {"name": "hijacked"})

    assert response.status_code == 403
    agent.refresh_from_db()
    assert agent.name != "hijacked"


def test_it_refuses_a_session_write_to_the_management_api_without_a_csrf_token(staff, tenant):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)

    forged = client.post("/v1/agents", {"name": "forged"}, content_type="application/json")
    client.get(reverse("admin:index"))  # a console page: sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    genuine = client.post("/v1/agents", {"name": "genuine"}, content_type="application/json", HTTP_X_CSRFTOKEN=token)

    assert forged.status_code == 403
    assert forged.json()["error"]["code"] == "forbidden"
    assert genuine.status_code == 201


def test_it_needs_no_csrf_token_with_an_org_key(tenant):
    _, secret = factories.make_org_key(tenant)
    client = Client(enforce_csrf_checks=True)

    response = client.post(
        "/v1/agents", {"name": "scripted"}, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {secret}"
    )

    assert response.status_code == 201
