"""Validation on write of apps, JWT verifiers, guardrails and restriction lists (SPEC 1, 3.3, 3.5)."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.exceptions import ValidationError
from jwt.algorithms import ECAlgorithm

from apps.models import App, GuardrailPolicy
from apps.services import app_create, app_update, guardrails_put
from core.actors import SYSTEM
from identity.services import agent_create
from tests import factories
from tests.core.refusal import refusal


@pytest.fixture(scope="module")
def ec_private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def public_pem(ec_private_key) -> str:
    return (
        ec_private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(scope="module")
def private_pem(ec_private_key) -> str:
    return ec_private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def app_with_jwt(tenant, agent, **jwt) -> App:
    """An unsaved app whose JWT verifier acts as ``agent``."""
    return App(tenant=tenant, name="spa", slug=factories.unique("spa-"), jwt={"agent_id": agent.id, **jwt})


def jwt_error(app: App) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        app.full_clean()
    return caught.value.message_dict["jwt"]


# --- slugs and the default app ---


def test_it_refuses_a_slug_taken_by_another_tenant_as_slug_taken(tenant, outsider):
    factories.make_app(outsider, slug="shared-name")

    status, code, reason = refusal(app_create, tenant_id=tenant.id, actor=SYSTEM, name="mine", slug="shared-name")

    assert (status, code, reason) == (400, "invalid_request", "slug_taken")
    assert not App.objects.filter(tenant=tenant).exists()


def test_it_does_not_name_the_owner_of_a_taken_slug(tenant, outsider):
    factories.make_app(outsider, slug="shared-name")

    with pytest.raises(Exception) as caught:  # noqa: PT011 - the message is what is checked
        app_create(tenant_id=tenant.id, actor=SYSTEM, name="mine", slug="shared-name")

    assert outsider.id not in str(caught.value)
    assert outsider.name not in str(caught.value)


def test_it_refuses_a_slug_taken_within_the_tenant(tenant):
    factories.make_app(tenant, slug="twice")

    assert refusal(app_create, tenant_id=tenant.id, actor=SYSTEM, name="b", slug="twice")[2] == "slug_taken"


def test_it_refuses_renaming_an_app_to_a_taken_slug(tenant, outsider):
    factories.make_app(outsider, slug="taken")
    app = factories.make_app(tenant, slug="free")

    assert refusal(app_update, app=app, actor=SYSTEM, data={"slug": "taken"})[2] == "slug_taken"


@pytest.mark.parametrize("slug", ["with space", "", "a/b", "dot.ted", "x" * 65])
def test_it_refuses_slugs_that_cannot_form_a_url_path(tenant, slug):
    with pytest.raises(ValidationError):
        app_create(tenant_id=tenant.id, actor=SYSTEM, name="x", slug=slug)


def test_it_demotes_the_previous_default_app_when_another_becomes_default(tenant):
    first = factories.make_app(tenant, is_default=True)

    second = factories.make_app(tenant, is_default=True)

    first.refresh_from_db()
    assert (first.is_default, second.is_default) == (False, True)
    assert App.objects.filter(tenant=tenant, is_default=True).count() == 1


def test_it_demotes_the_previous_default_when_an_app_is_updated_to_default(tenant):
    first = factories.make_app(tenant, is_default=True)
    second = factories.make_app(tenant)

    app_update(app=second, actor=SYSTEM, data={"is_default": True})

    assert list(App.objects.filter(tenant=tenant, is_default=True)) == [second]
    first.refresh_from_db()
    assert first.is_default is False


def test_it_leaves_the_default_app_of_another_tenant_alone(tenant, outsider):
    theirs = factories.make_app(outsider, is_default=True)

    factories.make_app(tenant, is_default=True)

    theirs.refresh_from_db()
    assert theirs.is_default is True


# --- JWT verifier settings ---


def test_it_accepts_a_public_key_pem(tenant, agent, public_pem):
    app = app_with_jwt(tenant, agent, public_key_pem=public_pem, algorithms=["ES256"])

    app.full_clean()

    assert app.jwt["public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----")


def test_it_accepts_a_jwks_of_public_keys(tenant, agent, ec_private_key):
    jwk = json.loads(ECAlgorithm.to_jwk(ec_private_key.public_key()))
    app = app_with_jwt(tenant, agent, jwks_json=json.dumps({"keys": [jwk]}), algorithms=["ES256"])

    app.full_clean()

    assert app.jwt["jwks_json"] == {"keys": [jwk]}


def test_it_refuses_jwks_json_that_does_not_parse(tenant, agent):
    app = app_with_jwt(tenant, agent, jwks_json='{"keys": [')

    assert "not valid JSON" in jwt_error(app)[0]


def test_it_refuses_a_jwks_holding_a_private_key(tenant, agent, ec_private_key):
    jwk = json.loads(ECAlgorithm.to_jwk(ec_private_key))
    assert "d" in jwk
    app = app_with_jwt(tenant, agent, jwks_json={"keys": [jwk]}, algorithms=["ES256"])

    assert "public keys only" in jwt_error(app)[0]


def test_it_refuses_a_pasted_private_key_pem(tenant, agent, private_pem):
    app = app_with_jwt(tenant, agent, public_key_pem=private_pem, algorithms=["ES256"])

    assert "private key" in jwt_error(app)[0]


def test_it_refuses_a_pem_that_is_not_a_public_key(tenant, agent):
    garbage = "-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5IGF0IGFsbA==\n-----END PUBLIC KEY-----\n"
    app = app_with_jwt(tenant, agent, public_key_pem=garbage, algorithms=["ES256"])

    assert "not a valid PEM public key" in jwt_error(app)[0]


def test_it_refuses_a_symmetric_jwt_algorithm(tenant, agent, public_pem):
    app = app_with_jwt(tenant, agent, public_key_pem=public_pem, algorithms=["HS256"])

    assert "HS256" in jwt_error(app)[0]


def test_it_refuses_a_jwt_agent_of_another_tenant(tenant, outsider, public_pem):
    foreign_agent = agent_create(tenant_id=outsider.id, actor=SYSTEM, name="theirs")
    app = app_with_jwt(tenant, foreign_agent, public_key_pem=public_pem, algorithms=["ES256"])

    assert "agent_id" in jwt_error(app)[0]


# --- guardrails ---


def test_it_accepts_blocked_patterns_that_compile(tenant):
    app = factories.make_app(tenant)
    patterns = [{"name": "ssn", "pattern": r"\d{3}-\d{2}-\d{4}"}]

    guardrails = guardrails_put(app=app, actor=SYSTEM, data={"blocked_patterns": patterns})

    assert GuardrailPolicy.objects.get(pk=guardrails.pk).blocked_patterns[0]["name"] == "ssn"


@pytest.mark.parametrize("pattern", ["(unclosed", "[a-", "*lead", ""])
def test_it_refuses_blocked_patterns_that_do_not_compile(tenant, pattern):
    app = factories.make_app(tenant)

    with pytest.raises(ValidationError) as caught:
        guardrails_put(app=app, actor=SYSTEM, data={"blocked_patterns": [{"name": "bad", "pattern": pattern}]})

    assert "blocked_patterns" in caught.value.message_dict
    assert GuardrailPolicy.objects.get(app=app).blocked_patterns == []


def test_it_refuses_two_blocked_patterns_with_one_name(tenant):
    app = factories.make_app(tenant)
    patterns = [{"name": "x", "pattern": "a"}, {"name": "x", "pattern": "b"}]

    with pytest.raises(ValidationError):
        guardrails_put(app=app, actor=SYSTEM, data={"blocked_patterns": patterns})


# --- restriction lists: [] refused, except a key's allowed_user_domains ---


def test_it_refuses_an_empty_allowed_user_domains_list_on_an_app(tenant):
    with pytest.raises(ValidationError) as caught:
        factories.make_app(tenant, allowed_user_domains=[])

    assert "allowed_user_domains" in caught.value.message_dict


def test_it_accepts_null_allowed_user_domains_on_an_app(tenant):
    assert factories.make_app(tenant, allowed_user_domains=None).allowed_user_domains is None


def test_it_refuses_an_empty_allowed_models_list_on_an_agent(tenant):
    with pytest.raises(ValidationError) as caught:
        factories.make_agent(tenant, allowed_models=[])

    assert "allowed_models" in caught.value.message_dict


def test_it_refuses_an_invalid_model_glob_on_an_agent(tenant):
    with pytest.raises(ValidationError) as caught:
        factories.make_agent(tenant, allowed_models=[" gpt-4o"])

    assert "allowed_models" in caught.value.message_dict


@pytest.mark.parametrize("field", ["allowed_models", "allowed_endpoints"])
def test_it_refuses_empty_restriction_lists_on_a_policy(tenant, field):
    with pytest.raises(ValidationError) as caught:
        factories.make_policy(tenant, **{field: []})

    assert field in caught.value.message_dict


def test_it_accepts_an_empty_allowed_user_domains_list_on_a_key_but_not_on_its_app(tenant, agent):
    app = factories.make_app(tenant, allowed_user_domains=["example.com"])

    key, _ = factories.make_key(agent, app=app, allowed_user_domains=[])

    assert key.allowed_user_domains == []
    with pytest.raises(ValidationError):
        app_update(app=app, actor=SYSTEM, data={"allowed_user_domains": []})
