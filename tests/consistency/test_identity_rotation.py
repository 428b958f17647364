"""``manage.py rotate_identity_key`` (SPEC 3.10) with two gateway processes on PostgreSQL and
Redis: every process signs with the new key within ``CONFIG_CACHE_SECONDS``, and every process
keeps publishing the old one for 24 hours, so that a provider verifies tokens of either."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
import jwt
import pytest
from django.core.management import call_command
from django.utils import timezone

from identity.models import IdentityKey
from tests.support.identity_outsider import Outsider, identity_header
from tests.support.servers import FakeUpstream

GPT = "gpt-4o-mini"


@pytest.fixture
def upstream():
    server = FakeUpstream().start()
    yield server
    server.stop()


@pytest.fixture
def signing(pair, upstream):
    """An agent, its key and an openai provider at the fake upstream, made over the API."""
    pair.create(0, "/v1/apps", {"name": "main", "slug": "signed-main", "is_default": True})
    provider = pair.create(0, "/v1/providers", {"name": "up", "kind": "openai", "base_url": upstream.url + "/v1"})
    agent = pair.create(0, "/v1/agents", {"name": "signer"})
    secret = pair.create(0, f"/v1/agents/{agent['id']}/keys", {"name": "k"})["key"]
    return provider["id"], secret


def token_via(pair, upstream, on: int, secret: str) -> str:
    response = pair.chat(on, model=GPT, headers={"X-API-Key": secret})
    assert response.status_code == 200, response.text
    return identity_header(upstream.last().headers)


def rotated(pair, upstream, secret: str) -> str:
    """Rotate, and the new key's kid once both processes sign with it (within 1.5 s)."""
    call_command("rotate_identity_key")
    rotated_at = time.monotonic()
    kid = IdentityKey.objects.get(retired_at=None).kid
    for on in (0, 1):
        while kid_of(token_via(pair, upstream, on, secret)) != kid:
            assert time.monotonic() - rotated_at < 1.5, f"process {on} still signs with the old key"
            time.sleep(0.05)
    return kid


def kid_of(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def published(outsider: Outsider) -> set[str]:
    return {key["kid"] for key in httpx.get(f"{outsider.gateway_url}/.well-known/jwks.json").json()["keys"]}


def test_a_rotation_reaches_every_process_and_the_old_key_stays_verifiable(pair, upstream, signing):
    provider_id, secret = signing
    outsiders = [Outsider(gateway.url) for gateway in pair.gateways]
    old_kid = rotated(pair, upstream, secret)
    before = [token_via(pair, upstream, on, secret) for on in (0, 1)]
    assert kid_of(before[1]) == kid_of(before[0]) == old_kid

    call_command("rotate_identity_key")
    rotated_at = time.monotonic()
    new_kid = IdentityKey.objects.get(retired_at=None).kid
    assert new_kid != old_kid

    for on in (0, 1):
        while kid_of(token := token_via(pair, upstream, on, secret)) != new_kid:
            assert time.monotonic() - rotated_at < 1.5, f"process {on} still signs with the old key"
            time.sleep(0.05)
        for outsider in outsiders:
            # The new token and the ones signed before, checked against either process's keys.
            assert outsider.verify(token, provider_id)["aud"] == provider_id
            for old in before:
                assert outsider.verify(old, provider_id)["sub"] == outsider.verify(token, provider_id)["sub"]
    for outsider in outsiders:
        assert {old_kid, new_kid} <= published(outsider)


def test_the_old_key_leaves_the_key_set_24_hours_after_the_rotation(pair, upstream, signing):
    _, secret = signing
    old_kid = rotated(pair, upstream, secret)
    rotated(pair, upstream, secret)
    outsider = Outsider(pair.gateways[1].url)

    IdentityKey.objects.filter(kid=old_kid).update(retired_at=timezone.now() - timedelta(hours=23, minutes=59))
    assert old_kid in published(outsider)

    IdentityKey.objects.filter(kid=old_kid).update(retired_at=timezone.now() - timedelta(hours=24, seconds=1))
    assert old_kid not in published(outsider)


def test_a_second_rotation_retires_the_first_rotations_key(pair, upstream, signing):
    provider_id, secret = signing
    first = rotated(pair, upstream, secret)
    second = rotated(pair, upstream, secret)

    for on in (0, 1):
        token = token_via(pair, upstream, on, secret)
        assert kid_of(token) == second
        assert Outsider(pair.gateways[on].url).verify(token, provider_id)["exp"] > time.time()
    assert {first, second} <= published(Outsider(pair.gateways[0].url))
