"""An app's identity settings in the console (SPEC 3.3, 7): the JWT verifier as a form, the
app's revocations, and the token check, through the same services and checks as the API."""

from __future__ import annotations

import pytest

from apps.models import App, JwtRevocation
from apps.services import app_update, jwt_revocation_create
from core.actors import SYSTEM
from forensics.models import Event
from tests.console.conftest import admin_url
from tests.console.test_writes import app_data
from tests.support.jwt_fixtures import SigningKey


@pytest.fixture
def signer() -> SigningKey:
    return SigningKey.ec("console-key")


def test_it_saves_a_pem_verifier_with_claim_bindings_and_a_scope_map(owner_client, owned, signer):
    data = app_data(
        name="Web", slug="web-pem", jwt_mode="public_key_pem", jwt_public_key_pem=signer.public_pem(),
        jwt_agent=owned.agent.pk, jwt_algorithms=["ES256"], jwt_issuer="https://idp.example.com/",
        jwt_audience="api://a, api://b", jwt_required_claims="org_id = acme\ngroups = ai-users, admins\ntier = 2",
        jwt_scope_map="portkey.completions.write = chat:completions", jwt_user_claims="preferred_username",
    )  # fmt: skip

    response = owner_client.post(admin_url(App, "add"), data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    jwt = App.objects.get(slug="web-pem").jwt
    assert jwt["public_key_pem"].strip() == signer.public_pem().strip()
    assert (jwt["agent_id"], jwt["algorithms"], jwt["audience"]) == (owned.agent.pk, ["ES256"], ["api://a", "api://b"])
    assert jwt["required_claims"] == {"org_id": ["acme"], "groups": ["ai-users", "admins"], "tier": [2]}
    assert jwt["scope_map"] == {"portkey.completions.write": "chat:completions"}
    assert jwt["user_claims"] == ["preferred_username"]


def test_it_shows_stored_settings_in_the_fields(owner_client, owned, signer):
    settings = {
        "public_key_pem": signer.public_pem(), "agent_id": owned.agent.pk, "algorithms": ["ES256"],
        "required_claims": {"org_id": "acme", "tier": 1}, "scope_map": {"x.write": "embeddings"},
    }  # fmt: skip
    app_update(app=owned.app, actor=SYSTEM, data={"jwt": settings})

    form = owner_client.get(admin_url(owned.app)).context["adminform"].form

    assert form.initial["jwt_mode"] == "public_key_pem"
    # jsonb keeps its own key order: compare the lines as a set.
    assert set(form.initial["jwt_required_claims"].splitlines()) == {"org_id = acme", "tier = 1"}
    assert form.initial["jwt_scope_map"] == "x.write = embeddings"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"jwt_mode": "jwks_url"}, "required in this mode"),
        ({"jwt_mode": "public_key_pem", "jwt_public_key_pem": "not a key"}, "public_key_pem"),
        ({"jwt_mode": "jwks_json", "jwt_jwks_json": "{}"}, "jwks_json"),
        ({"jwt_required_claims": "org_id = acme\nemail"}, "every line"),
        ({"jwt_scope_map": "x.write = chat"}, "scope_map"),
    ],
)
def test_it_shows_a_bad_verifier_on_the_form(owner_client, owned, signer, fields, message):
    data = app_data(
        name="Web", slug="web-bad", jwt_mode="public_key_pem", jwt_public_key_pem=signer.public_pem(),
        jwt_agent=owned.agent.pk, jwt_algorithms=["ES256"],
    ) | fields  # fmt: skip

    response = owner_client.post(admin_url(App, "add"), data)

    assert response.status_code == 200
    assert message in str(response.context["adminform"].form.errors)
    assert not App.objects.filter(slug="web-bad").exists()


def test_header_only_removes_the_verifier(owner_client, owned, signer):
    app_update(
        app=owned.app,
        actor=SYSTEM,
        data={"jwt": {"public_key_pem": signer.public_pem(), "agent_id": owned.agent.pk, "algorithms": ["ES256"]}},
    )
    data = app_data(name=owned.app.name, slug=owned.app.slug, jwt_mode="off", **{
        "guardrails-INITIAL_FORMS": "1", "guardrails-0-app": owned.app.pk,
    })  # fmt: skip

    assert owner_client.post(admin_url(owned.app), data).status_code == 302
    owned.app.refresh_from_db()
    assert owned.app.jwt is None


def test_it_adds_and_removes_revocations_through_the_services(owner_client, owner, owned):
    existing = jwt_revocation_create(app=owned.app, actor=SYSTEM, sub="mallory")
    data = app_data(name=owned.app.name, slug=owned.app.slug, **{
        "guardrails-INITIAL_FORMS": "1", "guardrails-0-app": owned.app.pk,
        "jwt_revocations-TOTAL_FORMS": "2", "jwt_revocations-INITIAL_FORMS": "1",
        "jwt_revocations-0-id": existing.pk, "jwt_revocations-0-app": owned.app.pk,
        "jwt_revocations-0-sub": "mallory", "jwt_revocations-0-jti": "",
        "jwt_revocations-0-expires_at_0": existing.expires_at.strftime("%Y-%m-%d"),
        "jwt_revocations-0-expires_at_1": existing.expires_at.strftime("%H:%M:%S"),
        "jwt_revocations-0-DELETE": "on",
        "jwt_revocations-1-app": owned.app.pk, "jwt_revocations-1-jti": "leaked-1", "jwt_revocations-1-sub": "",
    })  # fmt: skip

    response = owner_client.post(admin_url(owned.app), data)

    assert response.status_code == 302, response.context and response.context["inline_admin_formsets"]
    assert list(JwtRevocation.objects.values_list("jti", flat=True)) == ["leaked-1"]
    actions = set(Event.objects.filter(actor_id=str(owner.pk)).values_list("action", flat=True))
    assert {"jwt_revocation.created", "jwt_revocation.deleted"} <= actions


def test_a_revocation_naming_both_or_neither_is_refused_on_the_form(owner_client, owned):
    data = app_data(name=owned.app.name, slug=owned.app.slug, **{
        "guardrails-INITIAL_FORMS": "1", "guardrails-0-app": owned.app.pk,
        "jwt_revocations-TOTAL_FORMS": "1", "jwt_revocations-0-app": owned.app.pk,
        "jwt_revocations-0-jti": "a", "jwt_revocations-0-sub": "b",
    })  # fmt: skip

    response = owner_client.post(admin_url(owned.app), data)

    assert response.status_code == 200
    assert not JwtRevocation.objects.exists()


def test_the_token_check_page_is_the_tenants_only(owner_client, stranger_client, owned):
    from django.urls import reverse

    url = reverse("console:app-token-check", args=[owned.app.pk])
    assert owner_client.get(url).status_code == 200
    assert stranger_client.get(url).status_code == 404


def test_a_viewer_sees_the_verifier_read_only(member_client, owned, signer):
    settings = {"public_key_pem": signer.public_pem(), "agent_id": owned.agent.pk, "algorithms": ["ES256"],
                "issuer": "https://idp.viewer.example/"}  # fmt: skip
    app_update(app=owned.app, actor=SYSTEM, data={"jwt": settings})

    html = member_client.get(admin_url(owned.app)).content.decode()

    assert "https://idp.viewer.example/" in html
    assert 'name="jwt_mode"' not in html
