"""Which key checks a token (SPEC 3.3): never another app's.

The verifier's caches are keyed by the content of an app's settings. Keyed by ``id()`` of the
settings object, a token signed for app A was accepted by app B once B's settings were built
at the address A's had before they were dropped (issue 21, item 4).
"""

from __future__ import annotations

from core.errors import GatewayError
from identity.jwt_auth import TokenVerifier
from proxy.config_snapshot import AppEntry, GuardrailEntry
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


async def test_it_never_checks_a_token_with_another_apps_key_however_settings_churn():
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


async def test_it_forgets_a_verified_token_when_its_apps_keys_change():
    old, new = SigningKey.rsa("old"), SigningKey.rsa("new")
    verifier = TokenVerifier()
    token = old.sign({"sub": "u"}, kid=None)
    assert await refusal(verifier, app_entry("app_a", pem_settings(old)), token) is None

    assert await refusal(verifier, app_entry("app_a", pem_settings(new)), token) == "401 invalid_token"


async def test_it_keeps_a_verified_token_across_a_rebuild_of_the_same_settings():
    key = SigningKey.rsa("k")
    verifier = TokenVerifier()
    token = key.sign({"sub": "u"}, kid=None)
    first = await verifier.verify(app_entry("app_a", pem_settings(key)), token)

    assert await verifier.verify(app_entry("app_a", pem_settings(key)), token) is first
