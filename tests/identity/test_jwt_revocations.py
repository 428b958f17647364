"""Revoked JWTs (SPEC 3.3) on the proxy: by jti, by subject and iat, cached or not."""

from __future__ import annotations

import time
from datetime import timedelta

from django.utils import timezone

from apps.services import jwt_revocation_create, jwt_revocation_delete
from core.actors import SYSTEM
from forensics.models import RequestLog
from tests import factories
from tests.identity.test_jwt_authentication import reason

REVOKED = (401, "token_revoked")


def test_it_refuses_a_revoked_jti_even_when_cached(jwt_world):
    token = jwt_world.token(jti="t-1")
    assert jwt_world.call(token).status_code == 200  # now in the verified-token cache

    jwt_revocation_create(app=jwt_world.app, actor=SYSTEM, jti="t-1")

    response = jwt_world.call(token)
    assert reason(response) == REVOKED
    assert jwt_world.call(jwt_world.token(jti="t-2")).status_code == 200
    record = RequestLog.objects.get(id=response.headers["x-request-id"])
    assert (record.status_code, record.error_reason, record.app_id) == (401, "token_revoked", jwt_world.app.id)


def test_it_refuses_a_subjects_tokens_issued_at_or_before_the_revocation(jwt_world):
    now = int(time.time())
    earlier = jwt_world.token(sub="mallory", iat=now - 60)
    same_second = jwt_world.token(sub="mallory", iat=now - 1)
    without_iat = jwt_world.token(sub="mallory", iat=None)
    later = jwt_world.token(sub="mallory", iat=now + 20)  # within the leeway: issued after
    someone_else = jwt_world.token(sub="alice", iat=now - 60)

    jwt_revocation_create(app=jwt_world.app, actor=SYSTEM, sub="mallory")

    assert reason(jwt_world.call(earlier)) == REVOKED
    assert reason(jwt_world.call(same_second)) == REVOKED
    assert reason(jwt_world.call(without_iat)) == REVOKED
    assert jwt_world.call(later).status_code == 200
    assert jwt_world.call(someone_else).status_code == 200


def test_a_lifted_revocation_lets_the_token_in_again(jwt_world):
    token = jwt_world.token(jti="t-1")
    revocation = jwt_revocation_create(app=jwt_world.app, actor=SYSTEM, jti="t-1")
    assert reason(jwt_world.call(token)) == REVOKED

    jwt_revocation_delete(revocation=revocation, actor=SYSTEM)

    assert jwt_world.call(token).status_code == 200


def test_an_expired_revocation_is_forgotten(jwt_world):
    token = jwt_world.token(jti="t-1")
    revocation = jwt_revocation_create(app=jwt_world.app, actor=SYSTEM, jti="t-1")
    assert reason(jwt_world.call(token)) == REVOKED

    revocation.expires_at = timezone.now() - timedelta(seconds=1)
    revocation.save()

    assert jwt_world.call(token).status_code == 200


def test_a_revocation_binds_its_own_app_only(jwt_world, jwks):
    other = factories.make_app(jwt_world.world.tenant, slug="web-2")
    jwt_world.app, first = other, jwt_world.app
    jwt_world.configure(jwks_url=jwks.url)
    jwt_revocation_create(app=first, actor=SYSTEM, jti="t-1")

    assert jwt_world.call(jwt_world.token(jti="t-1")).status_code == 200


def test_another_tenants_revocation_of_the_same_jti_changes_nothing(jwt_world, jwks):
    outsider = factories.make_tenant("Outsider")
    outsider_agent = factories.make_agent(outsider)
    outsider_app = factories.make_app(outsider, slug="outsider-web", jwt={
        "jwks_url": jwks.url, "agent_id": outsider_agent.id,
    })  # fmt: skip
    jwt_revocation_create(app=outsider_app, actor=SYSTEM, jti="t-1")

    assert jwt_world.call(jwt_world.token(jti="t-1")).status_code == 200
