"""Header-mode identity (SPEC 3.3): header mode x enforcement x domains, and key overrides."""

from __future__ import annotations

import pytest

from apps.services import app_update
from core.actors import SYSTEM
from forensics.models import RequestLog
from tests import factories

MODELS = "/v1/models"


def configure(world, **app_fields) -> None:
    app_update(app=world.app, actor=SYSTEM, data=app_fields)


# header_mode, enforce, domains, sent email → expected status, reason, recorded user
TABLE = [
    (False, False, None, "a@example.com", 200, None, None),
    (False, False, None, None, 200, None, None),
    (False, True, None, "a@example.com", 403, "identity_required", None),  # header ignored when off
    (False, True, None, None, 403, "identity_required", None),
    (False, False, ["example.com"], "a@evil.com", 200, None, None),  # off: not checked either
    (True, False, None, "A@Example.com", 200, None, "a@example.com"),
    (True, False, None, None, 200, None, None),
    (True, True, None, "a@example.com", 200, None, "a@example.com"),
    (True, True, None, None, 403, "identity_required", None),
    (True, False, ["example.com"], "a@EXAMPLE.COM", 200, None, "a@example.com"),
    (True, False, ["example.com"], "a@evil.com", 403, "domain_not_allowed", "a@evil.com"),  # refused, but recorded
    (True, False, ["example.com"], None, 200, None, None),  # no identity: not checked here
    (True, True, ["example.com"], None, 403, "identity_required", None),
    (True, True, ["example.com"], "a@sub.example.com", 403, "domain_not_allowed", "a@sub.example.com"),  # exact only
]


@pytest.mark.parametrize(("header_mode", "enforce", "domains", "email", "status", "reason", "user"), TABLE)
def test_it_applies_the_identity_table(world, header_mode, enforce, domains, email, status, reason, user):
    configure(world, identity_header_mode=header_mode, enforce_identity=enforce, allowed_user_domains=domains)
    headers = {"X-API-Key": world.secret, **({"X-User-Email": email} if email else {})}
    response = world.http(**headers).get(MODELS)
    assert response.status_code == status
    if reason:
        assert response.json()["error"]["reason"] == reason
    record = RequestLog.objects.get(id=response.headers["x-request-id"])
    assert record.user == user
    assert record.identity_source == ("header" if user else None)


@pytest.mark.parametrize(
    ("key_fields", "email", "status"),
    [
        ({"identity_header_mode": False}, "a@example.com", 403),  # key turns header mode off: identity missing
        ({"enforce_identity": False}, None, 200),  # key relaxes enforcement
        ({"allowed_user_domains": []}, "a@anywhere.org", 200),  # [] on a key: any domain
        ({"allowed_user_domains": ["anywhere.org"]}, "a@example.com", 403),  # key's own list replaces the app's
        ({}, "a@anywhere.org", 403),  # null inherits the app's list
    ],
)
def test_it_lets_a_key_override_the_apps_identity_settings(world, key_fields, email, status):
    configure(world, identity_header_mode=True, enforce_identity=True, allowed_user_domains=["example.com"])
    _, secret = factories.make_key(world.agent, **key_fields)
    headers = {"X-API-Key": secret, **({"X-User-Email": email} if email else {})}
    assert world.http(**headers).get(MODELS).status_code == status


@pytest.mark.parametrize("email", ["not-an-email", "a@", "@example.com", "a b@example.com", "a@example"])
def test_it_refuses_a_malformed_user_email_in_header_mode(world, email):
    configure(world, identity_header_mode=True)
    response = world.http(**{"X-API-Key": world.secret, "X-User-Email": email}).get(MODELS)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


def test_it_ignores_a_malformed_user_email_when_header_mode_is_off(world):
    response = world.http(**{"X-API-Key": world.secret, "X-User-Email": "garbage"}).get(MODELS)
    assert response.status_code == 200


def test_it_records_a_valid_conversation_id(world):
    response = world.http(**{"X-API-Key": world.secret, "X-Conversation-Id": "conv:2024.a_b-1"}).get(MODELS)
    assert RequestLog.objects.get(id=response.headers["x-request-id"]).conversation_id == "conv:2024.a_b-1"


@pytest.mark.parametrize("value", ["", "x" * 129, "has space", "semi;colon", "ünï".encode()])
def test_it_refuses_an_invalid_conversation_id(world, value):
    response = world.http(**{"X-API-Key": world.secret, "X-Conversation-Id": value}).get(MODELS)
    assert response.status_code == 400
