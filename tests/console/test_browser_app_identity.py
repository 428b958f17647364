"""An app's identity settings set up in a real browser, one identity mode at a time, then a
token checked on the console's token page and on the proxy (SPEC 3.3, 7).

Skipped with the reason where no browser exists, failed where CI is set
(tests/support/requirements.py).
"""

from __future__ import annotations

import json

import httpx
import pytest

from apps.models import App, JwtRevocation
from tests import factories
from tests.console.conftest import admin_url
from tests.support.browser import chromium, console_login
from tests.support.jwt_fixtures import SigningKey
from tests.support.requirements import needs_browser

pytestmark = needs_browser


@pytest.fixture(scope="module")
def browser():
    # Playwright's sync API keeps an event loop in this thread; Django would then refuse the
    # tests' own (synchronous, never concurrent) database calls as "async unsafe".
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with chromium() as browser:
            yield browser


@pytest.fixture
def site(gateway):
    tenant = factories.make_tenant("Identity Org")
    app = factories.make_app(tenant, slug="idp-app", name="Identity app")
    agent = factories.make_agent(tenant, name="token-agent")
    factories.make_provider(tenant, kind="mock", models=["mock-*"])
    admin = factories.make_console_user(tenant, email="admin@identity.example", role="admin")
    return type("Site", (), {"tenant": tenant, "app": app, "agent": agent, "admin": admin, "url": gateway.url})


@pytest.fixture
def page(browser, site):
    context = browser.new_context(base_url=site.url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    console_login(page, site.url, site.admin.username)
    yield page
    context.close()


def _open_app(page, site) -> None:
    page.goto(admin_url(site.app))


def _save(page) -> None:
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")


def _check(page, site, token: str) -> dict[str, str]:
    """The token page's verdict per check, as a person reads it."""
    _open_app(page, site)
    page.click("a.aidgate-token-check")
    page.fill("#id_token", token)
    page.click("#token-check input[type=submit]")
    page.wait_for_selector("#token-checks")
    rows = page.query_selector_all("#token-checks tbody tr")
    return {row.get_attribute("data-check"): row.get_attribute("data-passed") for row in rows}


def _proxy(site, token: str) -> int:
    body = {"model": "mock-1", "messages": [{"role": "user", "content": "Hi"}]}
    response = httpx.post(f"{site.url}/apps/{site.app.slug}/v1/chat/completions", json=body,
                          headers={"X-API-Key": token}, timeout=10)  # fmt: skip
    return response.status_code


def _common(page, site, algorithm: str, *, required: str = "", scope_map: str = "") -> None:
    page.select_option("#id_jwt_agent", site.agent.pk)
    for box in page.query_selector_all("input[name=jwt_algorithms]"):
        if box.is_checked() != (box.get_attribute("value") == algorithm):
            box.click()
    page.fill("#id_jwt_issuer", "https://idp.example.com/")
    page.fill("#id_jwt_audience", "api://aidgate")
    page.fill("#id_jwt_required_claims", required)
    page.fill("#id_jwt_scope_map", scope_map)


def _claims(**extra) -> dict:
    return {"iss": "https://idp.example.com/", "aud": "api://aidgate", "sub": "u-1", **extra}


def test_it_sets_up_a_pem_verifier_and_checks_a_token(page, site):
    signer = SigningKey.ec("pem-key")
    _open_app(page, site)
    page.check("input[name=jwt_mode][value=public_key_pem]")
    page.fill("#id_jwt_public_key_pem", signer.public_pem())
    _common(page, site, "ES256", required="org_id = acme", scope_map="app.write = chat:completions")
    _save(page)
    site.app.refresh_from_db()
    assert site.app.jwt["required_claims"] == {"org_id": ["acme"]}

    good = signer.sign(_claims(org_id="acme", scope="app.write"))
    verdict = _check(page, site, good)
    assert set(verdict.values()) == {"pass"}
    assert page.text_content("#token-outcome").strip() == "Accepted"
    assert "chat:completions" in page.text_content("#token-identity")
    assert json.loads(page.text_content("#token-claims"))["org_id"] == "acme"
    assert _proxy(site, good) == 200

    wrong_org = signer.sign(_claims(org_id="globex", scope="app.write"))
    verdict = _check(page, site, wrong_org)
    assert verdict["required_claims"] == "fail"
    assert verdict["signature"] == verdict["iss"] == verdict["aud"] == verdict["exp"] == "pass"
    assert verdict["revocation"] == "not-run"
    assert page.text_content("#token-outcome").strip() == "Refused"
    assert _proxy(site, wrong_org) == 401


def test_it_sets_up_a_jwks_document_and_shows_a_wrong_audience(page, site):
    signer = SigningKey.rsa("doc-key")
    _open_app(page, site)
    page.check("input[name=jwt_mode][value=jwks_json]")
    page.fill("#id_jwt_jwks_json", json.dumps({"keys": [signer.jwk()]}))
    _common(page, site, "RS256")
    _save(page)
    assert "jwks_json" in App.objects.get(pk=site.app.pk).jwt

    verdict = _check(page, site, signer.sign(_claims(aud="api://other", scope="chat:completions")))
    assert verdict["aud"] == "fail"
    assert verdict["iss"] == verdict["signature"] == "pass"
    stranger = SigningKey.rsa("doc-key").sign(_claims(scope="chat:completions"))
    verdict = _check(page, site, stranger)
    assert verdict["signature"] == "fail"
    assert verdict["exp"] == "not-run"


def test_it_sets_up_a_jwks_url_and_a_revocation_refuses_the_token(page, site, jwks, signing_key):
    _open_app(page, site)
    page.check("input[name=jwt_mode][value=jwks_url]")
    page.fill("#id_jwt_jwks_url", jwks.url)
    _common(page, site, "RS256")
    _save(page)
    token = signing_key.sign(_claims(jti="leaked-1", scope="chat:completions"))
    assert _check(page, site, token)["revocation"] == "pass"
    assert _proxy(site, token) == 200

    _open_app(page, site)
    page.fill("#id_jwt_revocations-0-jti", "leaked-1")
    _save(page)
    assert JwtRevocation.objects.get(app=site.app).jti == "leaked-1"

    verdict = _check(page, site, token)
    assert verdict["revocation"] == "fail"
    assert "token_revoked" in page.text_content("#token-checks tr[data-check=revocation]")
    assert _proxy(site, token) == 401

    # Removed again on the app page: the token works once more.
    _open_app(page, site)
    page.check("#id_jwt_revocations-0-DELETE")
    _save(page)
    assert not JwtRevocation.objects.exists()
    assert _check(page, site, token)["revocation"] == "pass"


def test_header_only_mode_has_nothing_to_check(page, site):
    _open_app(page, site)
    assert page.is_checked("input[name=jwt_mode][value=off]")
    page.click("a.aidgate-token-check")
    assert page.is_visible("#no-verifier")
