"""Agent keys and org keys in the console: the secret is shown once, on the page after it is
issued, and nowhere else ever; revocation and rotation go through the key services."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from forensics.models import Event
from keys.models import CredentialState, Key, OrgKey
from keys.rules import SCOPES
from keys.services import key_verify, org_key_verify
from tenants.models import Tenant
from tests import factories
from tests.console.conftest import admin_url

AGENT_SECRET_RE = re.compile(r"aid_sk_[A-Za-z0-9]{32,}")
ORG_SECRET_RE = re.compile(r"aid_org_[A-Za-z0-9]{32,}")


def key_add_data(agent, **fields) -> dict:
    return {
        "agent": agent.pk, "app": "", "name": "console key", "scopes": list(SCOPES), "rate_limit": "",
        "expires_in_days": "30", "identity_header_mode": "unknown", "enforce_identity": "unknown",
        "allowed_user_domains": "",
    } | fields  # fmt: skip


def shown_secrets(response, pattern: re.Pattern) -> set[str]:
    assert response.status_code == 200
    return set(pattern.findall(response.content.decode()))


def assert_never_shown_again(client: Client, secret: str, urls: list[str]) -> None:
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        assert secret not in response.content.decode(), url


def assert_not_stored(model, pk: str, secret: str) -> None:
    row = model.objects.filter(pk=pk).values().get()
    assert not any(secret in str(value) for value in row.values())
    assert not any(secret in str(event.changes) for event in Event.objects.all())
    assert not any(secret in f"{e.object_repr} {e.change_message}" for e in LogEntry.objects.all())


def test_it_shows_a_new_key_secret_exactly_once(owner_client, owned):
    response = owner_client.post(admin_url(Key, "add"), key_add_data(owned.agent), follow=True)
    secrets = shown_secrets(response, AGENT_SECRET_RE)
    assert len(secrets) == 1
    secret = secrets.pop()
    assert "it will not be shown again" in response.content.decode()
    key = key_verify(secret)  # the secret shown is the new key's, and it works
    assert key.agent == owned.agent
    assert key.name == "console key"
    assert abs(key.expires_at - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)
    assert_never_shown_again(
        owner_client, secret, [response.request["PATH_INFO"], admin_url(Key, "changelist"), admin_url(key)]
    )
    assert_not_stored(Key, key.pk, secret)


def test_it_records_the_console_user_as_the_key_creator(owner_client, owner, owned):
    owner_client.post(admin_url(Key, "add"), key_add_data(owned.agent, name="audited"))
    key = Key.objects.get(name="audited")
    event = Event.objects.get(action="key.created", object_id=key.pk)
    assert (event.actor_type, event.actor_id, event.tenant_id) == ("user", str(owner.pk), owned.tenant.pk)


def test_it_issues_app_scoped_keys_with_chosen_scopes(owner_client, owned):
    data = key_add_data(owned.agent, app=owned.app.pk, scopes=["embeddings"], name="scoped")
    owner_client.post(admin_url(Key, "add"), data)
    key = Key.objects.get(name="scoped")
    assert key.app == owned.app
    assert key.scopes == ["embeddings"]


@pytest.mark.parametrize("days", ["0", "366"])
def test_it_refuses_a_lifetime_outside_one_to_365_days(owner_client, owned, days):
    response = owner_client.post(admin_url(Key, "add"), key_add_data(owned.agent, expires_in_days=days, name="x"))
    assert response.status_code == 200
    assert "expires_in_days" in response.context["adminform"].form.errors
    assert not Key.objects.filter(name="x").exists()


def test_it_never_shows_the_digest(owner_client, owned):
    for url in [admin_url(owned.key), admin_url(Key, "changelist"), admin_url(owned.org_key)]:
        html = owner_client.get(url).content.decode()
        assert owned.key.digest not in html
        assert owned.org_key.digest not in html
    assert owned.key.prefix in owner_client.get(admin_url(owned.key)).content.decode()


def test_it_edits_only_name_rate_limit_models_and_identity_overrides(owner_client, owned):
    form = owner_client.get(admin_url(owned.key)).context["adminform"].form
    assert set(form.fields) == {
        "name", "rate_limit", "allowed_models", "identity_header_mode", "enforce_identity", "allowed_user_domains",
    }  # fmt: skip
    response = owner_client.post(
        admin_url(owned.key),
        {
            "name": "renamed", "rate_limit": "5", "identity_header_mode": "true", "enforce_identity": "unknown",
            "allowed_user_domains": '["Example.com"]', "scopes": ["embeddings"], "agent": "ag_other",
            "allowed_models": '["mock-*"]',
        },
    )  # fmt: skip
    assert response.status_code == 302
    key = Key.objects.get(pk=owned.key.pk)
    assert key.allowed_models == ["mock-*"]
    assert (key.name, key.rate_limit, key.identity_header_mode, key.enforce_identity) == ("renamed", 5, True, None)
    assert key.allowed_user_domains == ["example.com"]
    assert key.scopes == list(SCOPES)
    assert key.agent_id == owned.agent.pk
    assert Event.objects.filter(action="key.updated", object_id=key.pk, actor_type="user").exists()


def test_it_lists_state_and_highlights_keys_expiring_within_14_days(owner_client, owned):
    soon, _ = factories.make_key(owned.agent, name="soon", expires_in_days=3)
    later, _ = factories.make_key(owned.agent, name="later", expires_in_days=60)
    revoked, _ = factories.make_key(owned.agent, name="gone")
    Key.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
    response = owner_client.get(admin_url(Key, "changelist"))
    rows = {r: html for r, html in _rows(response.content.decode(), [soon, later, revoked]).items()}
    assert "aidgate-expiring" in rows[soon.pk]
    assert "aidgate-expiring" not in rows[later.pk]
    assert "revoked" in rows[revoked.pk]
    assert "active" in rows[later.pk]
    active = owner_client.get(admin_url(Key, "changelist"), {"state": "revoked"}).content.decode()
    assert admin_url(revoked) in active
    assert admin_url(later) not in active


def _rows(html: str, keys: list[Key]) -> dict[str, str]:
    rows = re.findall(r"<tr>.*?</tr>", html, flags=re.S)
    return {k.pk: next(r for r in rows if admin_url(k) in r) for k in keys}


def test_it_revokes_selected_keys(owner_client, owner, owned):
    response = owner_client.post(
        admin_url(Key, "changelist"), {"action": "revoke_keys", "_selected_action": [owned.key.pk]}, follow=True
    )
    assert response.status_code == 200
    assert Key.objects.get(pk=owned.key.pk).state() == CredentialState.REVOKED
    event = Event.objects.get(action="key.revoked", object_id=owned.key.pk)
    assert (event.actor_type, event.actor_id) == ("user", str(owner.pk))


def test_it_revokes_a_key_from_its_change_page(owner_client, owned):
    owner_client.post(admin_url(owned.key), {"CHANGE_FORM-action": "revoke_keys", "_selected_action": [owned.key.pk]})
    assert Key.objects.get(pk=owned.key.pk).state() == CredentialState.REVOKED


def test_it_rotates_a_key_and_shows_the_new_secret_once(owner_client, owned):
    response = owner_client.post(
        admin_url(Key, "changelist"), {"action": "rotate_keys", "_selected_action": [owned.key.pk]}, follow=True
    )
    secrets = shown_secrets(response, AGENT_SECRET_RE)
    assert len(secrets) == 1
    secret = secrets.pop()
    old = Key.objects.get(pk=owned.key.pk)
    assert old.rotated_to_id is not None
    assert key_verify(secret).pk == old.rotated_to_id
    assert old.state() == CredentialState.REVOKED  # no grace: the old secret stops now
    assert_never_shown_again(
        owner_client, secret, [response.request["PATH_INFO"], admin_url(old.rotated_to), admin_url(old)]
    )
    assert_not_stored(Key, old.rotated_to_id, secret)


def test_it_rotates_with_a_grace_period(owner_client, owned):
    owner_client.post(
        admin_url(Key, "changelist"), {"action": "rotate_keys_with_grace", "_selected_action": [owned.key.pk]}
    )
    old = Key.objects.get(pk=owned.key.pk)
    assert old.rotated_to_id is not None
    assert key_verify(owned.key_secret).pk == old.pk  # still works during the grace period
    assert old.revoked_at > timezone.now() + timedelta(hours=23)


def test_it_reports_a_refused_rotation_instead_of_failing(owner_client, owned):
    Key.objects.filter(pk=owned.key.pk).update(revoked_at=timezone.now())
    response = owner_client.post(
        admin_url(Key, "changelist"), {"action": "rotate_keys", "_selected_action": [owned.key.pk]}, follow=True
    )
    assert response.status_code == 200
    assert "only an active key" in response.content.decode()
    assert not AGENT_SECRET_RE.search(response.content.decode())


def test_it_never_deletes_keys(owner_client, owned):
    assert owner_client.post(admin_url(owned.key, "delete"), {"post": "yes"}).status_code == 403
    assert Key.objects.filter(pk=owned.key.pk).exists()


def test_it_shows_a_new_org_key_secret_exactly_once(owner_client, owned):
    response = owner_client.post(
        admin_url(OrgKey, "add"), {"name": "ci", "role": "viewer", "expires_in_days": ""}, follow=True
    )
    secrets = shown_secrets(response, ORG_SECRET_RE)
    assert len(secrets) == 1
    secret = secrets.pop()
    assert "it will not be shown again" in response.content.decode()
    org_key = org_key_verify(secret)
    assert (org_key.tenant_id, org_key.role, org_key.name, org_key.expires_at) == (
        owned.tenant.pk,
        "viewer",
        "ci",
        None,
    )
    assert_never_shown_again(
        owner_client, secret, [response.request["PATH_INFO"], admin_url(OrgKey, "changelist"), admin_url(org_key)]
    )
    assert_not_stored(OrgKey, org_key.pk, secret)


def test_it_issues_org_keys_with_an_expiry(owner_client, owned):
    owner_client.post(admin_url(OrgKey, "add"), {"name": "temp", "role": "admin", "expires_in_days": "7"})
    org_key = OrgKey.objects.get(name="temp")
    assert abs(org_key.expires_at - (timezone.now() + timedelta(days=7))) < timedelta(minutes=1)


def test_it_revokes_org_keys(owner_client, owned):
    owner_client.post(
        admin_url(OrgKey, "changelist"), {"action": "revoke_org_keys", "_selected_action": [owned.org_key.pk]}
    )
    assert OrgKey.objects.get(pk=owned.org_key.pk).state() == CredentialState.REVOKED


def test_it_refuses_to_revoke_the_last_admin_credential_with_a_message(superuser_client, db):
    tenant = factories.make_tenant()  # one admin org key, no console admin
    only = OrgKey.objects.get(tenant=tenant)
    response = superuser_client.post(
        admin_url(OrgKey, "changelist"), {"action": "revoke_org_keys", "_selected_action": [only.pk]}, follow=True
    )
    assert response.status_code == 200
    assert "last admin credential" in response.content.decode()
    assert OrgKey.objects.get(pk=only.pk).state() == CredentialState.ACTIVE


def test_it_shows_the_first_org_key_of_a_new_tenant_once(superuser_client, db):
    response = superuser_client.post(admin_url(Tenant, "add"), {"name": "Fresh Org", "admin_email": ""}, follow=True)
    secrets = shown_secrets(response, ORG_SECRET_RE)
    assert len(secrets) == 1
    secret = secrets.pop()
    assert org_key_verify(secret).tenant.name == "Fresh Org"
    assert_never_shown_again(superuser_client, secret, [response.request["PATH_INFO"], admin_url(OrgKey, "changelist")])


def test_it_keeps_a_new_secret_server_side_and_encrypted_until_it_is_shown(owner_client, owned):
    response = owner_client.post(admin_url(Key, "add"), key_add_data(owned.agent, name="kept"))
    assert response.status_code == 302
    # Nothing of the secret in any cookie the redirect sets, nor in the session row at rest.
    assert "messages" not in response.cookies
    assert not any(AGENT_SECRET_RE.search(morsel.value) for morsel in response.cookies.values())
    assert not any(AGENT_SECRET_RE.search(row.session_data) for row in Session.objects.all())
    assert not any(AGENT_SECRET_RE.search(str(row.get_decoded())) for row in Session.objects.all())

    shown = shown_secrets(owner_client.get(response["Location"]), AGENT_SECRET_RE)
    assert len(shown) == 1
    assert key_verify(shown.pop()).name == "kept"
    assert all("_messages" not in row.get_decoded() for row in Session.objects.all())


def test_it_issues_a_key_with_allowed_models(owner_client, owned):
    data = {
        "agent": owned.agent.pk, "app": "", "name": "narrow", "scopes": list(SCOPES), "rate_limit": "",
        "expires_in_days": "30", "identity_header_mode": "unknown", "enforce_identity": "unknown",
        "allowed_user_domains": "", "allowed_models": '["gpt-4o*"]',
    }  # fmt: skip
    assert owner_client.post(admin_url(Key, "add"), data).status_code == 302
    assert Key.objects.get(name="narrow").allowed_models == ["gpt-4o*"]
    data |= {"name": "empty", "allowed_models": "[]"}
    response = owner_client.post(admin_url(Key, "add"), data)
    assert response.status_code == 200
    assert "allowed_models" in str(response.context["adminform"].form.errors)
