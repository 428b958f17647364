"""Tokens shaped like those of common identity providers, with the app settings documented
for each in docs/identity.md."""

from __future__ import annotations

import pytest

from forensics.models import RequestLog

PROVIDERS = {
    "auth0": (
        {"issuer": "https://tenant.eu.auth0.com/", "audience": "https://api.aidgate.example"},
        {
            "iss": "https://tenant.eu.auth0.com/",
            "sub": "auth0|64f1c2",
            "aud": ["https://api.aidgate.example", "https://tenant.eu.auth0.com/userinfo"],
            "scope": "openid profile chat:completions",
            "azp": "client-id",
            "https://aidgate.example/email": "dev@corp.example",
        },
        "auth0|64f1c2",
    ),
    "okta": (
        {"issuer": "https://corp.okta.com/oauth2/default", "audience": "api://aidgate", "scope_claims": ["scp"]},
        {
            "iss": "https://corp.okta.com/oauth2/default",
            "aud": "api://aidgate",
            "sub": "dev@corp.example",
            "uid": "00u1abcd",
            "cid": "0oa1client",
            "scp": ["openid", "chat:completions"],
            "scope": None,
        },
        "dev@corp.example",
    ),
    "google": (
        {"issuer": "https://accounts.google.com", "audience": "1234-abc.apps.googleusercontent.com"},
        {
            "iss": "https://accounts.google.com",
            "aud": "1234-abc.apps.googleusercontent.com",
            "sub": "110169484474386276334",
            "email": "dev@corp.example",
            "email_verified": True,
            "hd": "corp.example",
            "scope": "chat:completions",
        },
        "dev@corp.example",
    ),
    "entra": (
        {
            "issuer": "https://login.microsoftonline.com/tid-1/v2.0",
            "audience": "api://aidgate",
            "scope_claims": ["scp"],
            "user_claims": ["preferred_username"],
        },
        {
            "iss": "https://login.microsoftonline.com/tid-1/v2.0",
            "aud": "api://aidgate",
            "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
            "oid": "00000000-0000-0000-66f3-3332eca7ea81",
            "preferred_username": "Dev@Corp.Example",
            "scp": "chat:completions models:read",
            "scope": None,
        },
        "Dev@Corp.Example",
    ),
}


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_it_accepts_tokens_shaped_like_the_providers(jwt_world, jwks, provider):
    settings, claims, user = PROVIDERS[provider]
    jwt_world.configure(jwks_url=jwks.url, **settings)
    response = jwt_world.call(jwt_world.key.sign(claims))
    assert response.status_code == 200, response.text
    assert RequestLog.objects.get(id=response.headers["x-request-id"]).user == user


def test_it_checks_entras_user_principal_against_allowed_domains(jwt_world, jwks):
    from apps.services import app_update
    from core.actors import SYSTEM

    settings, claims, _ = PROVIDERS["entra"]
    jwt_world.configure(jwks_url=jwks.url, **settings)
    app_update(app=jwt_world.app, actor=SYSTEM, data={"allowed_user_domains": ["corp.example"]})
    assert jwt_world.call(jwt_world.key.sign(claims)).status_code == 200
    outsider = {**claims, "preferred_username": "dev@other.example"}
    assert jwt_world.call(jwt_world.key.sign(outsider)).status_code == 403


def test_it_refuses_an_okta_token_when_the_app_does_not_look_at_scp(jwt_world, jwks):
    settings, claims, _ = PROVIDERS["okta"]
    jwt_world.configure(jwks_url=jwks.url, **{k: v for k, v in settings.items() if k != "scope_claims"})
    assert jwt_world.call(jwt_world.key.sign(claims)).json()["error"]["reason"] == "scope_missing"
