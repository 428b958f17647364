"""JWT authentication (SPEC 3.3): every accept and refuse case, against a real JWKS server."""

from __future__ import annotations

import json
import time

import jwt
import pytest

from forensics.models import RequestLog
from proxy import jwt_verification
from tests.support.jwt_fixtures import SigningKey


def reason(response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["reason"]


def test_it_accepts_a_valid_token_and_records_the_user_and_agent(jwt_world):
    response = jwt_world.call(jwt_world.token(email="Alice@Example.com", sub="u1"))
    assert response.status_code == 200
    assert response.headers["x-agent-id"] == jwt_world.agent.id
    record = RequestLog.objects.get(id=response.headers["x-request-id"])
    assert (record.credential, record.key_id, record.agent_id) == ("jwt", None, jwt_world.agent.id)
    assert (record.user, record.identity_source) == ("Alice@Example.com", "jwt")


def test_it_accepts_a_token_under_x_app_id_on_plain_v1(jwt_world):
    token = jwt_world.token()
    response = jwt_world.call(None, path="/v1/chat/completions", headers={
        "Authorization": f"Bearer {token}", "X-App-Id": jwt_world.app.slug,
    })  # fmt: skip
    assert response.status_code == 200


def test_it_reads_a_token_from_the_apps_key_location_under_x_app_id(jwt_world):
    from apps.services import app_update
    from core.actors import SYSTEM

    app_update(app=jwt_world.app, actor=SYSTEM, data={"key_name": "X-Id-Token"})
    response = jwt_world.call(None, path="/v1/chat/completions", headers={
        "X-Id-Token": jwt_world.token(), "X-App-Id": jwt_world.app.id,
    })  # fmt: skip
    assert response.status_code == 200


def test_it_refuses_a_token_for_an_app_without_a_verifier(jwt_world):
    from apps.services import app_update
    from core.actors import SYSTEM

    app_update(app=jwt_world.app, actor=SYSTEM, data={"jwt": None})
    assert reason(jwt_world.call(jwt_world.token())) == (401, "invalid_token")


def test_it_refuses_a_token_signed_by_an_unknown_key(jwt_world):
    stranger = SigningKey.rsa("key-1")  # same kid, other key: the signature fails
    assert reason(jwt_world.call(stranger.sign({"sub": "x", "scope": "chat:completions"}))) == (401, "invalid_token")


def test_it_refuses_an_unknown_kid_with_401_not_500(jwt_world):
    stranger = SigningKey.rsa("unknown-kid")
    assert reason(jwt_world.call(stranger.sign({"sub": "x", "scope": "chat:completions"}))) == (401, "invalid_token")


def test_it_refuses_an_expired_token(jwt_world):
    token = jwt_world.token(exp=int(time.time()) - 120)
    assert reason(jwt_world.call(token)) == (401, "token_expired")


def test_it_accepts_a_token_just_expired_within_the_leeway(jwt_world):
    token = jwt_world.token(exp=int(time.time()) - 5)
    assert jwt_world.call(token).status_code == 200


def test_it_requires_exp(jwt_world):
    token = jwt_world.key.sign({"sub": "x", "scope": "chat:completions", "exp": None})
    assert reason(jwt_world.call(token)) == (401, "invalid_claims")


def test_it_refuses_a_token_not_valid_yet(jwt_world):
    token = jwt_world.token(nbf=int(time.time()) + 600)
    assert reason(jwt_world.call(token)) == (401, "invalid_claims")


def test_it_refuses_a_wrong_issuer(jwt_world, jwks):
    jwt_world.configure(jwks_url=jwks.url, issuer="https://idp.example.com/")
    assert reason(jwt_world.call(jwt_world.token(iss="https://evil.example.com/"))) == (401, "invalid_claims")
    assert jwt_world.call(jwt_world.token(iss="https://idp.example.com/")).status_code == 200


def test_it_refuses_a_wrong_audience_and_accepts_an_audience_list(jwt_world, jwks):
    jwt_world.configure(jwks_url=jwks.url, audience="aidgate")
    assert reason(jwt_world.call(jwt_world.token(aud="other"))) == (401, "invalid_claims")
    assert jwt_world.call(jwt_world.token(aud=["other", "aidgate"])).status_code == 200


def test_it_refuses_a_token_missing_a_required_claim(jwt_world, jwks):
    jwt_world.configure(jwks_url=jwks.url, required_claims=["tenant"])
    assert reason(jwt_world.call(jwt_world.token())) == (401, "invalid_claims")
    assert jwt_world.call(jwt_world.token(tenant="t1")).status_code == 200


def test_it_never_accepts_the_none_algorithm(jwt_world):
    token = jwt.encode({"sub": "x", "exp": int(time.time()) + 60, "scope": "chat:completions"}, None, algorithm="none")
    assert reason(jwt_world.call(token)) == (401, "invalid_token")


def test_it_refuses_an_hs256_token_signed_with_the_public_key(jwt_world, signing_key):
    """The classic confusion attack: the public key used as an HMAC secret."""
    pem = signing_key.public_pem().encode()
    header = {"alg": "HS256", "typ": "JWT", "kid": signing_key.kid}
    claims = {"sub": "x", "exp": int(time.time()) + 60, "scope": "chat:completions"}
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    assert reason(jwt_world.call(f"{signing_input}.{b64(signature)}")) == (401, "invalid_token")


def test_it_refuses_an_algorithm_outside_the_apps_list(jwt_world, jwks):
    jwt_world.configure(jwks_url=jwks.url, algorithms=["ES256"])
    assert reason(jwt_world.call(jwt_world.token())) == (401, "invalid_token")


def test_it_verifies_against_a_static_jwks_document_given_as_object_or_string(jwt_world, signing_key):
    jwt_world.configure(jwks_json={"keys": [signing_key.jwk()]})
    assert jwt_world.call(jwt_world.token()).status_code == 200
    jwt_world.configure(jwks_json=json.dumps({"keys": [signing_key.jwk()]}))
    assert jwt_world.call(jwt_world.token(sub="other")).status_code == 200


@pytest.mark.parametrize("make_key", [SigningKey.rsa, SigningKey.ec])
def test_it_verifies_against_a_static_pem_key(jwt_world, make_key):
    key = make_key("pem")
    jwt_world.configure(public_key_pem=key.public_pem(), algorithms=[key.alg])
    token = key.sign({"sub": "x", "scope": "chat:completions"}, kid=None)
    assert jwt_world.call(token).status_code == 200


def test_it_accepts_a_rotated_key_after_one_refetch(jwt_world, jwks, monkeypatch):
    assert jwt_world.call(jwt_world.token()).status_code == 200
    fetches = jwks.fetches()
    rotated = SigningKey.rsa("key-2")
    jwks.keys.append(rotated)
    # Stand for the 10 s since the last fetch having passed (the gateway runs in this process).
    monkeypatch.setattr(jwt_verification, "REFETCH_INTERVAL_SECONDS", 0.0)
    response = jwt_world.call(rotated.sign({"sub": "x", "scope": "chat:completions"}))
    assert response.status_code == 200
    assert jwks.fetches() == fetches + 1


def test_it_fetches_at_most_once_for_a_flood_of_unknown_kids(jwt_world, jwks):
    assert jwt_world.call(jwt_world.token()).status_code == 200
    before = jwks.fetches()
    for i in range(30):
        forged = SigningKey.rsa(f"forged-{i}") if i < 2 else SigningKey(f"forged-{i}", jwt_world.key.private)
        assert reason(jwt_world.call(forged.sign({"sub": "x", "scope": "chat:completions"}))) == (401, "invalid_token")
    assert jwks.fetches() - before <= 1


def test_it_keeps_using_cached_keys_while_the_jwks_server_is_down(jwt_world, jwks):
    assert jwt_world.call(jwt_world.token()).status_code == 200
    jwks.server.stop()
    assert jwt_world.call(jwt_world.token(sub="another-user")).status_code == 200


def test_it_answers_jwks_unavailable_when_no_key_was_ever_fetched(jwt_world):
    jwt_world.configure(jwks_url="http://127.0.0.1:9/jwks.json")
    assert reason(jwt_world.call(jwt_world.token())) == (502, "jwks_unavailable")


def test_it_never_serves_a_cached_token_past_its_exp(jwt_world, jwks):
    jwt_world.configure(jwks_url=jwks.url, leeway_seconds=0)
    token = jwt_world.token(exp=int(time.time()) + 2)
    assert jwt_world.call(token).status_code == 200
    time.sleep(max(0.0, jwt.decode(token, options={"verify_signature": False})["exp"] - time.time()) + 0.2)
    assert reason(jwt_world.call(token)) == (401, "token_expired")


@pytest.mark.parametrize(
    ("claims", "user"),
    [
        ({"email_id": "a@x.com", "email": "b@x.com", "sub": "s", "uid": "u"}, "a@x.com"),
        ({"email": "b@x.com", "sub": "s", "uid": "u"}, "b@x.com"),
        ({"sub": "s", "uid": "u"}, "s"),
        ({"uid": "u", "sub": None}, "u"),
    ],
)
def test_it_takes_the_user_from_the_first_present_claim(jwt_world, claims, user):
    response = jwt_world.call(jwt_world.token(**claims))
    assert RequestLog.objects.get(id=response.headers["x-request-id"]).user == user


@pytest.mark.parametrize(
    "scope_claims",
    [{"scope": "chat:completions"}, {"scope": ["chat:completions"]}, {"scope": None, "scopes": ["chat:completions"]}],
)
def test_it_reads_scopes_from_scope_string_scope_array_or_scopes(jwt_world, scope_claims):
    assert jwt_world.call(jwt_world.token(**scope_claims)).status_code == 200


def test_it_refuses_a_token_without_the_endpoints_scope(jwt_world):
    assert reason(jwt_world.call(jwt_world.token(scope="models:read"))) == (403, "scope_missing")


def test_it_accepts_scopes_carrying_the_apps_prefix(jwt_world):
    from apps.services import app_update
    from core.actors import SYSTEM

    app_update(app=jwt_world.app, actor=SYSTEM, data={"scope_prefix": "aid."})
    assert jwt_world.call(jwt_world.token(scope="aid.chat:completions")).status_code == 200


def test_it_checks_the_jwt_email_domain_even_with_a_valid_signature(jwt_world):
    from apps.services import app_update
    from core.actors import SYSTEM

    app_update(app=jwt_world.app, actor=SYSTEM, data={"allowed_user_domains": ["example.com"]})
    assert jwt_world.call(jwt_world.token(email="a@EXAMPLE.com")).status_code == 200
    assert reason(jwt_world.call(jwt_world.token(email="a@evil.com"))) == (403, "domain_not_allowed")
    # A token without an email claim fails a non-empty domain list.
    assert reason(jwt_world.call(jwt_world.token(sub="no-email"))) == (403, "domain_not_allowed")


def test_a_jwt_satisfies_enforced_identity(jwt_world):
    from apps.services import app_update
    from core.actors import SYSTEM

    app_update(app=jwt_world.app, actor=SYSTEM, data={"enforce_identity": True})
    assert jwt_world.call(jwt_world.token()).status_code == 200


def test_jwt_requests_act_as_the_configured_agent_and_its_model_rules(jwt_world):
    from core.actors import SYSTEM
    from identity.services import agent_update

    agent_update(agent=jwt_world.agent, actor=SYSTEM, data={"allowed_models": ["other-*"]})
    assert reason(jwt_world.call(jwt_world.token())) == (403, "model_not_allowed")
    agent_update(agent=jwt_world.agent, actor=SYSTEM, data={"status": "suspended"})
    assert reason(jwt_world.call(jwt_world.token())) == (403, "agent_suspended")
