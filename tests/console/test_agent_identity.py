"""An agent's page in the console shows its fingerprint and its signed identity (SPEC 3.10,
5.2): the token of ``GET /v1/agents/{id}/identity``, for whoever may see the tenant's agents,
written nowhere."""

from __future__ import annotations

import re

import jwt
import pytest
from django.contrib.admin.utils import quote
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from forensics.models import Event
from identity.models import Agent
from identity.selectors import identity_keyring_load
from identity.services import agent_fingerprint
from tests.console.conftest import admin_url

TOKEN_RE = re.compile(r'<textarea id="agent-identity-token"[^>]*>([^<]+)</textarea>')
WRITE_RE = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)


def page_token(response) -> str:
    match = TOKEN_RE.search(response.content.decode())
    assert match, "no identity token on the page"
    return match.group(1).strip()


def verified(token: str) -> dict:
    """The claims, verified with PyJWT alone against the keys the gateway publishes."""
    keys = jwt.PyJWKSet.from_dict({"keys": list(identity_keyring_load().published)})
    kid = jwt.get_unverified_header(token)["kid"]
    (key,) = [k for k in keys.keys if k.key_id == kid]
    return jwt.decode(token, key.key, algorithms=["ES256"], options={"require": ["exp", "iat", "sub"]})


@pytest.mark.parametrize("who", ["owner_client", "member_client", "superuser_client"])
def test_it_shows_the_fingerprint_and_a_verifiable_token(request, owned, who):
    client = request.getfixturevalue(who)

    response = client.get(admin_url(owned.agent))

    assert response.status_code == 200
    body = response.content.decode()
    assert owned.agent.fingerprint == agent_fingerprint(owned.agent)
    assert owned.agent.fingerprint in body
    claims = verified(page_token(response))
    assert claims["sub"] == owned.agent.pk
    assert claims["tenant"] == owned.tenant.pk
    assert claims["fingerprint"] == owned.agent.fingerprint
    assert claims["exp"] - claims["iat"] == 24 * 3600
    assert "jti" not in claims
    assert "aud" not in claims
    assert 'data-copy-from="agent-identity-token"' in body
    assert "/.well-known/jwks.json" in body
    assert "24 hours" in body


def test_signing_it_writes_nothing(owner_client, owned):
    events = Event.objects.count()

    with CaptureQueriesContext(connection) as queries:
        response = owner_client.get(admin_url(owned.agent))

    assert response.status_code == 200
    assert page_token(response)
    assert [q["sql"] for q in queries.captured_queries if WRITE_RE.match(q["sql"])] == []
    assert Event.objects.count() == events


def test_another_tenants_agent_answers_as_an_unknown_one(stranger_client, owned):
    response = stranger_client.get(admin_url(owned.agent))
    unknown = stranger_client.get(admin_url(owned.agent).replace(quote(owned.agent.pk), quote(f"{owned.agent.pk}x")))

    assert response.status_code == unknown.status_code == 302
    assert response.url == unknown.url == reverse("admin:index")
    assert "agent-identity-token" not in stranger_client.get(response.url).content.decode()


def test_a_new_agent_has_no_token_yet(owner_client, owned):
    response = owner_client.get(admin_url(Agent, "add"))

    assert response.status_code == 200
    assert "agent-identity-token" not in response.content.decode()
