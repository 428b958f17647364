"""Keys in the console: the one-time secret comes with a warning and a copy button, and
revocation and rotation go through a confirmation page that posts the key admin's action."""

from __future__ import annotations

import pytest
from django.urls import reverse

from keys.models import CredentialState, Key
from keys.rules import SCOPES
from tests.console.conftest import admin_url

CONFIRM = reverse("console:key-confirm")


def test_a_new_secret_comes_with_a_warning_and_a_copy_button(owner_client, owned):
    data = {
        "agent": owned.agent.pk, "app": "", "name": "copy me", "scopes": list(SCOPES), "rate_limit": "",
        "expires_in_days": "30", "identity_header_mode": "unknown", "enforce_identity": "unknown",
        "allowed_user_domains": "",
    }  # fmt: skip
    html = owner_client.post(admin_url(Key, "add"), data, follow=True).content.decode()
    secret_item = html.split('<li class="secret warning" role="alert">')[1].split("</li>")[0]
    assert "Shown once" in secret_item
    assert "aidgate-secret" in secret_item
    assert '<button type="button" class="button aidgate-copy" hidden>Copy</button>' in secret_item
    assert "console/admin.js" in html


def test_ordinary_messages_keep_their_look(owner_client, owned):
    html = owner_client.post(admin_url(owned.key), {"CHANGE_FORM-action": "revoke_keys",
                                                     "_selected_action": [owned.key.pk]}, follow=True)  # fmt: skip
    html = html.content.decode()
    assert '<li class="success">Revoked 1 key(s)' in html
    assert "aidgate-copy" not in html


@pytest.mark.parametrize("action", ["revoke_keys", "rotate_keys", "rotate_keys_with_grace"])
def test_it_asks_before_a_key_action_and_changes_nothing_yet(owner_client, owned, action):
    response = owner_client.get(CONFIRM, {"action": action, "ids": [owned.key.pk], "next": admin_url(owned.key)})
    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-key-id="{owned.key.pk}"' in html
    assert f'<input type="hidden" name="action" value="{action}">' in html
    assert f'action="{admin_url(Key, "changelist")}"' in html
    assert f'href="{admin_url(owned.key)}"' in html  # "No" goes back where the user came from
    assert ("cannot be undone" if action == "revoke_keys" else "shown once on the next page") in html
    assert owned.key.digest not in html
    assert Key.objects.get(pk=owned.key.pk).state() == CredentialState.ACTIVE


def test_confirming_runs_the_key_admins_action(owner_client, owned):
    html = owner_client.get(CONFIRM, {"action": "revoke_keys", "ids": [owned.key.pk]}).content.decode()
    assert 'name="csrfmiddlewaretoken"' in html
    owner_client.post(admin_url(Key, "changelist"), {"action": "revoke_keys", "_selected_action": [owned.key.pk]})
    assert Key.objects.get(pk=owned.key.pk).state() == CredentialState.REVOKED


def test_it_lists_only_keys_the_user_may_see(stranger_client, owner_client, owned, foreign):
    assert stranger_client.get(CONFIRM, {"action": "revoke_keys", "ids": [owned.key.pk]}).status_code == 404
    html = owner_client.get(CONFIRM, {"action": "revoke_keys", "ids": [owned.key.pk, foreign.key.pk]})
    html = html.content.decode()
    assert owned.key.pk in html
    assert foreign.key.pk not in html


def test_viewers_cannot_open_the_confirmation(member_client, owned):
    assert member_client.get(CONFIRM, {"action": "revoke_keys", "ids": [owned.key.pk]}).status_code == 403


def test_it_refuses_unknown_actions_and_foreign_return_addresses(owner_client, owned):
    assert owner_client.get(CONFIRM, {"action": "delete_selected", "ids": [owned.key.pk]}).status_code == 404
    html = owner_client.get(
        CONFIRM, {"action": "revoke_keys", "ids": [owned.key.pk], "next": "https://evil.example/"}
    ).content.decode()
    assert "evil.example" not in html


def test_the_key_page_offers_revoke_and_rotate_while_the_key_is_active(owner_client, member_client, owned):
    html = owner_client.get(admin_url(owned.key)).content.decode()
    assert 'id="key-revoke"' in html
    assert 'id="key-rotate"' in html
    assert f"{CONFIRM}?action=revoke_keys&amp;ids={owned.key.pk}" in html
    assert 'id="key-revoke"' not in member_client.get(admin_url(owned.key)).content.decode()
    Key.objects.filter(pk=owned.key.pk).update(revoked_at=owned.key.created_at)
    assert 'id="key-revoke"' not in owner_client.get(admin_url(owned.key)).content.decode()
