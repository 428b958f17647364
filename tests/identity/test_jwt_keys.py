"""Which key checks a token (SPEC 3.3): never another app's, and never one of the wrong type.

The verifier's caches are keyed by the content of an app's settings. Keyed by ``id()`` of the
settings object, a token signed for app A was accepted by app B once B's settings were built
at the address A's had before they were dropped. A token whose algorithm does not fit the
key (an RS256 token against an EC key) made PyJWT raise a TypeError or an InvalidKeyError out
of the pipeline: a 500 and a traceback in the log.
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from core.errors import GatewayError
from forensics.models import RequestLog
from proxy.config_snapshot import AppEntry, GuardrailEntry
from proxy.jwt_verification import TokenVerifier
from tests.support.jwt_fixtures import SigningKey

CHURN_ROUNDS = 300


def app_entry(app_id: str, jwt_settings: dict) -> AppEntry:
    """An app as the configuration snapshot builds it, each time a new object."""
    return AppEntry(
        id=app_id, slug=app_id, is_default=False, key_name="X-API-Key", key_location="header",
        identity_header_mode=False, enforce_identity=False, allowed_user_domains=None, scope_prefix="",
        jwt=jwt_settings, capture_bodies=False, body_capture_max_bytes=0, guardrails=GuardrailEntry(),
    )  # fmt: skip


def pem_settings(key: SigningKey) -> dict:
    """A fresh settings object, as a snapshot rebuilt from the database holds."""
    return {"agent_id": "ag_x", "public_key_pem": key.public_pem(), "algorithms": [key.alg], "leeway_seconds": 30}


async def refusal(verifier: TokenVerifier, app: AppEntry, token: str) -> str | None:
    """``status reason`` of the refusal of ``token`` for ``app``, or None when it is accepted."""
    try:
        await verifier.verify(app, token)
    except GatewayError as error:
        return f"{error.status} {error.reason}"
    return None


def test_it_never_checks_a_token_with_another_apps_key_however_settings_churn():
    asyncio.run(_it_never_checks_a_token_with_another_apps_key_however_settings_churn())


async def _it_never_checks_a_token_with_another_apps_key_however_settings_churn() -> None:
    keys = {"app_a": SigningKey.rsa("a"), "app_b": SigningKey.rsa("b")}
    tokens = {name: key.sign({"sub": name}, kid=None) for name, key in keys.items()}
    verifier = TokenVerifier()
    reused = 0
    for round_ in range(CHURN_ROUNDS):
        first, second = ("app_a", "app_b") if round_ % 2 == 0 else ("app_b", "app_a")
        # The first app meets the other's token: refused, but its keys are now cached.
        app = app_entry(first, pem_settings(keys[first]))
        address = id(app.jwt)
        assert await refusal(verifier, app, tokens[second]) == "401 invalid_token"
        del app  # its settings are freed, and their address with them
        app = app_entry(second, pem_settings(keys[second]))
        reused += id(app.jwt) == address

        assert await refusal(verifier, app, tokens[first]) == "401 invalid_token", f"round {round_}"
        del app

    # The churn did hand one app's address to the other: the hazard was really exercised.
    assert reused > 0
    for name, key in keys.items():
        assert await refusal(verifier, app_entry(name, pem_settings(key)), tokens[name]) is None


def test_it_forgets_a_verified_token_when_its_apps_keys_change():
    asyncio.run(_it_forgets_a_verified_token_when_its_apps_keys_change())


async def _it_forgets_a_verified_token_when_its_apps_keys_change() -> None:
    old, new = SigningKey.rsa("old"), SigningKey.rsa("new")
    verifier = TokenVerifier()
    token = old.sign({"sub": "u"}, kid=None)
    assert await refusal(verifier, app_entry("app_a", pem_settings(old)), token) is None

    assert await refusal(verifier, app_entry("app_a", pem_settings(new)), token) == "401 invalid_token"


def test_it_keeps_a_verified_token_across_a_rebuild_of_the_same_settings():
    asyncio.run(_it_keeps_a_verified_token_across_a_rebuild_of_the_same_settings())


async def _it_keeps_a_verified_token_across_a_rebuild_of_the_same_settings() -> None:
    key = SigningKey.rsa("k")
    verifier = TokenVerifier()
    token = key.sign({"sub": "u"}, kid=None)
    first = await verifier.verify(app_entry("app_a", pem_settings(key)), token)

    assert await verifier.verify(app_entry("app_a", pem_settings(key)), token) is first


def test_it_keeps_the_jwks_refetch_limit_across_a_rebuild_of_the_apps_settings(jwt_world, jwks):
    """SPEC 3.3 counts refetches per app and process: new settings for the same URL, no new window."""
    assert jwt_world.call(jwt_world.token()).status_code == 200
    fetches = jwks.fetches()
    jwt_world.configure(jwks_url=jwks.url, leeway_seconds=10)  # a new settings object, same URL

    for i in range(5):
        forged = SigningKey(f"unknown-{i}", jwt_world.key.private)
        assert jwt_world.call(forged.sign({"sub": "x", "scope": "chat:completions"})).status_code == 401
    assert jwt_world.call(jwt_world.token()).status_code == 200
    assert jwks.fetches() == fetches


# --- algorithms that do not fit the key (through the real gateway) ---------------------


def rsa_key(kid: str, alg: str = "RS256") -> SigningKey:
    return SigningKey(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048), alg=alg)


def ec_key(kid: str, curve: ec.EllipticCurve, alg: str) -> SigningKey:
    return SigningKey(kid, ec.generate_private_key(curve), alg=alg)


MISFITS = {
    # name: (the app's key, the app's algorithms, the key that signs the token)
    "rs256-token-ec-key": (lambda: ec_key("v", ec.SECP256R1(), "ES256"), ["RS256", "ES256"], lambda: rsa_key("t")),
    "es256-token-rsa-key": (lambda: rsa_key("v"), ["RS256", "ES256"], lambda: ec_key("t", ec.SECP256R1(), "ES256")),
    "ps256-token-ec-key": (
        lambda: ec_key("v", ec.SECP256R1(), "ES256"), ["PS256", "ES256"], lambda: rsa_key("t", "PS256"),
    ),
    "es256-token-p384-key": (
        lambda: ec_key("v", ec.SECP384R1(), "ES384"), ["ES256", "ES384"], lambda: ec_key("t", ec.SECP256R1(), "ES256"),
    ),
    "rs256-token-ed25519-key": (
        lambda: SigningKey("v", ed25519.Ed25519PrivateKey.generate(), alg="EdDSA"), ["EdDSA", "RS256"],
        lambda: rsa_key("t"),
    ),
}  # fmt: skip


def misfit_token(signer: SigningKey, *, kid: str | None) -> str:
    return signer.sign({"sub": "u", "scope": "chat:completions", "exp": int(time.time()) + 300}, kid=kid)


def assert_refused_cleanly(response, caplog) -> None:
    """401 invalid_token, recorded, and nothing logged at error level or with a traceback."""
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not loud, [r.getMessage() for r in loud]
    assert response.status_code == 401, response.text
    error = response.json()["error"]
    assert (error["code"], error["reason"]) == ("unauthorized", "invalid_token")
    assert RequestLog.objects.get(id=response.headers["x-request-id"]).status_code == 401


@pytest.mark.parametrize("misfit", MISFITS.values(), ids=MISFITS.keys())
def test_it_refuses_a_token_whose_algorithm_does_not_fit_the_pem_key(jwt_world, caplog, misfit):
    make_key, algorithms, make_signer = misfit
    jwt_world.configure(public_key_pem=make_key().public_pem(), algorithms=algorithms)
    caplog.set_level(logging.WARNING)

    response = jwt_world.call(misfit_token(make_signer(), kid=None))

    assert_refused_cleanly(response, caplog)


@pytest.mark.parametrize("source", ["jwks_url", "jwks_json"])
@pytest.mark.parametrize(
    ("served", "signer"),
    [
        (lambda: ec_key("k1", ec.SECP256R1(), "ES256"), lambda: rsa_key("k1")),
        (lambda: rsa_key("k1"), lambda: ec_key("k1", ec.SECP256R1(), "ES256")),
        (lambda: ec_key("k1", ec.SECP256R1(), "ES256"), lambda: rsa_key("k1", "PS256")),
    ],
    ids=["rs256-token-ec-jwk", "es256-token-rsa-jwk", "ps256-token-ec-jwk"],
)
def test_it_refuses_a_token_whose_algorithm_does_not_fit_the_kty_of_its_jwk(
    jwt_world, jwks, caplog, source, served, signer
):
    key = served()
    jwks.keys[:] = [key]
    algorithms = ["RS256", "PS256", "ES256"]
    if source == "jwks_url":
        jwt_world.configure(jwks_url=jwks.url, algorithms=algorithms)
    else:
        jwt_world.configure(jwks_json={"keys": [key.jwk()]}, algorithms=algorithms)
    caplog.set_level(logging.WARNING)

    response = jwt_world.call(misfit_token(signer(), kid="k1"))

    assert_refused_cleanly(response, caplog)


@pytest.mark.parametrize("make_key", [rsa_key, lambda kid: ec_key(kid, ec.SECP384R1(), "ES384")])
def test_it_still_accepts_a_token_whose_algorithm_fits_the_key(jwt_world, make_key):
    key = make_key("v")
    jwt_world.configure(public_key_pem=key.public_pem(), algorithms=["RS256", "ES256", "ES384"])

    assert jwt_world.call(misfit_token(key, kid=None)).status_code == 200
