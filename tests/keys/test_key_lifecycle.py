"""Agent keys (SPEC section 2): format, storage at rest, verification, expiry, revocation,
rotation, and what the agent's state does to its keys."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings
from django.core.exceptions import ValidationError

from core.actors import SYSTEM
from forensics.models import Event
from identity.services import agent_delete, agent_update
from keys import secrets as key_secrets
from keys.models import Key
from keys.services import credential_touch, key_revoke, key_rotate, key_verify
from tests import factories
from tests.core.raw_sql import raw_rows, raw_text, raw_text_of_database
from tests.core.refusal import refusal

AGENT_SECRET_RE = re.compile(r"^aid_sk_[A-Za-z0-9]{32,}$")
T0 = datetime(2030, 1, 15, 12, 0, 0, tzinfo=UTC)


# --- format and storage ---


def test_it_issues_an_aid_sk_secret_of_at_least_32_base62_characters(agent):
    key, secret = factories.make_key(agent)

    assert AGENT_SECRET_RE.match(secret)
    assert re.match(r"^key_[A-Za-z0-9]{12,}$", key.id)


def test_it_issues_a_different_secret_each_time(agent):
    secrets = {factories.make_key(agent)[1] for _ in range(5)}

    assert len(secrets) == 5


def test_it_shows_aid_sk_and_the_first_four_characters_as_display_prefix(agent):
    key, secret = factories.make_key(agent)

    assert key.prefix == secret[: len("aid_sk_") + 4]
    assert re.match(r"^aid_sk_[A-Za-z0-9]{4}$", key.prefix)


def test_it_stores_the_hmac_sha256_digest_under_key_hash_secret(agent):
    key, secret = factories.make_key(agent)

    expected = hmac.new(settings.KEY_HASH_SECRET.encode(), secret.encode(), hashlib.sha256).hexdigest()
    (stored,) = [row for row in raw_rows(Key._meta.db_table) if key.id in row]
    assert expected in stored
    assert Key.objects.get(pk=key.id).digest == expected


def test_it_never_stores_the_secret_in_the_keys_table(agent):
    _, secret = factories.make_key(agent)

    stored = raw_text(Key._meta.db_table)
    assert secret not in stored
    # Not even the random part without its prefix.
    assert secret.removeprefix("aid_sk_") not in stored


def test_it_never_writes_the_secret_into_the_event_trail(agent):
    key, secret = factories.make_key(agent)
    key_rotate(key=key, actor=SYSTEM)

    events = raw_text(Event._meta.db_table)
    assert "key.created" in events
    assert secret.removeprefix("aid_sk_") not in events


def test_it_keeps_no_copy_of_any_issued_secret_in_any_table(agent):
    key, first = factories.make_key(agent)
    _, second = key_rotate(key=key, actor=SYSTEM, grace_seconds=60)

    everything = raw_text_of_database()
    for secret in (first, second):
        assert secret.removeprefix("aid_sk_") not in everything


def test_it_compares_digests_with_hmac_compare_digest(agent, compare_digest_calls):
    _, secret = factories.make_key(agent)

    key_verify(secret)

    digest = key_secrets.secret_digest(secret)
    assert (digest, digest) in compare_digest_calls


def test_it_rejects_a_wrong_digest_through_the_constant_time_compare(compare_digest_calls):
    assert key_secrets.digest_matches("aid_sk_x", "0" * 64) is False
    assert compare_digest_calls == [(key_secrets.secret_digest("aid_sk_x"), "0" * 64)]


# --- verification ---


def test_it_verifies_a_fresh_key(agent):
    key, secret = factories.make_key(agent)

    assert key_verify(secret).pk == key.pk


def test_it_refuses_an_unknown_key_as_invalid_key(agent):
    factories.make_key(agent)

    assert refusal(key_verify, "aid_sk_" + "A" * 40) == (401, "unauthorized", "invalid_key")


def test_it_refuses_a_secret_without_the_agent_prefix_as_invalid_key(agent):
    _, secret = factories.make_key(agent)

    assert refusal(key_verify, secret.removeprefix("aid_sk_")) == (401, "unauthorized", "invalid_key")


def test_it_refuses_a_truncated_key(agent):
    _, secret = factories.make_key(agent)

    assert refusal(key_verify, secret[:-1]) == (401, "unauthorized", "invalid_key")


def test_it_refuses_an_org_key_on_the_proxy_as_wrong_credential_type(tenant):
    _, org_secret = factories.make_org_key(tenant)

    assert refusal(key_verify, org_secret) == (403, "forbidden", "wrong_credential_type")


# --- lifetime ---


def test_it_expires_keys_after_90_days_by_default(agent):
    with time_machine.travel(T0, tick=False):
        key, _ = factories.make_key(agent)

    assert key.expires_at == T0 + timedelta(days=90)


@pytest.mark.parametrize("days", [1, 365])
def test_it_accepts_lifetimes_from_1_to_365_days(agent, days):
    with time_machine.travel(T0, tick=False):
        key, _ = factories.make_key(agent, expires_in_days=days)

    assert key.expires_at == T0 + timedelta(days=days)


@pytest.mark.parametrize("days", [0, 366, -1, True, "30"])
def test_it_refuses_lifetimes_outside_1_to_365_days(agent, days):
    with pytest.raises(ValidationError) as caught:
        factories.make_key(agent, expires_in_days=days)

    assert "expires_in_days" in caught.value.message_dict
    assert not Key.objects.filter(agent=agent).exists()


def test_it_accepts_a_key_until_one_second_before_it_expires(agent):
    with time_machine.travel(T0, tick=False):
        key, secret = factories.make_key(agent, expires_in_days=1)

    with time_machine.travel(key.expires_at - timedelta(seconds=1), tick=False):
        assert key_verify(secret).pk == key.pk


def test_it_refuses_a_key_at_its_expiry_time_as_key_expired(agent):
    with time_machine.travel(T0, tick=False):
        key, secret = factories.make_key(agent, expires_in_days=1)

    with time_machine.travel(key.expires_at, tick=False):
        assert refusal(key_verify, secret) == (401, "unauthorized", "key_expired")


def test_it_refuses_a_key_after_its_expiry_time_as_key_expired(agent):
    with time_machine.travel(T0, tick=False):
        key, secret = factories.make_key(agent, expires_in_days=1)

    with time_machine.travel(key.expires_at + timedelta(days=30), tick=False):
        assert refusal(key_verify, secret) == (401, "unauthorized", "key_expired")


# --- revocation ---


def test_it_refuses_a_revoked_key_as_key_revoked(agent):
    key, secret = factories.make_key(agent)

    key_revoke(key=key, actor=SYSTEM)

    assert refusal(key_verify, secret) == (401, "unauthorized", "key_revoked")


def test_it_keeps_the_first_revocation_time_when_revoked_twice(agent):
    key, _ = factories.make_key(agent)
    with time_machine.travel(T0, tick=False):
        key_revoke(key=key, actor=SYSTEM)
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        key_revoke(key=key, actor=SYSTEM)

    assert Key.objects.get(pk=key.pk).revoked_at == T0
    assert Event.objects.filter(object_id=key.id, action="key.revoked").count() == 1


def test_it_reports_revoked_before_expired(agent):
    with time_machine.travel(T0, tick=False):
        key, secret = factories.make_key(agent, expires_in_days=1)
        key_revoke(key=key, actor=SYSTEM)

    with time_machine.travel(T0 + timedelta(days=2), tick=False):
        assert refusal(key_verify, secret) == (401, "unauthorized", "key_revoked")


def test_it_leaves_other_keys_of_the_agent_working_after_one_is_revoked(agent):
    revoked, _ = factories.make_key(agent)
    kept, kept_secret = factories.make_key(agent)

    key_revoke(key=revoked, actor=SYSTEM)

    assert key_verify(kept_secret).pk == kept.pk


# --- rotation ---


def test_it_rotates_to_a_new_key_with_a_new_id_and_secret(agent):
    old, old_secret = factories.make_key(agent)

    new, new_secret = key_rotate(key=old, actor=SYSTEM)

    assert new.id != old.id
    assert AGENT_SECRET_RE.match(new_secret)
    assert new_secret != old_secret
    assert key_verify(new_secret).pk == new.pk


def test_it_records_the_successor_on_the_old_key(agent):
    old, _ = factories.make_key(agent)

    new, _ = key_rotate(key=old, actor=SYSTEM)

    old.refresh_from_db()
    assert old.rotated_to_id == new.id


def test_it_gives_the_new_key_the_same_settings(tenant, agent):
    app = factories.make_app(tenant)
    old, _ = factories.make_key(
        agent, name="billing bot", app=app, scopes=["embeddings"], rate_limit=42, identity_header_mode=True,
        enforce_identity=False, allowed_user_domains=["example.com"],
    )  # fmt: skip

    new, _ = key_rotate(key=old, actor=SYSTEM)

    fields = ["name", "agent_id", "app_id", "tenant_id", "scopes", "rate_limit", "identity_header_mode",
              "enforce_identity", "allowed_user_domains"]  # fmt: skip
    assert {f: getattr(new, f) for f in fields} == {f: getattr(old, f) for f in fields}


def test_it_gives_the_new_key_the_same_lifetime(agent):
    # Real time, not frozen: the old key's created_at lands a moment after its expires_at was
    # computed, which once made every rotation shorten the lifetime by a day.
    old, _ = factories.make_key(agent, expires_in_days=30)

    new, _ = key_rotate(key=old, actor=SYSTEM)
    newer, _ = key_rotate(key=new, actor=SYSTEM)

    for key in (new, newer):
        lifetime = key.expires_at - key.created_at
        assert timedelta(days=30) - timedelta(minutes=1) < lifetime <= timedelta(days=30)


def test_it_revokes_the_old_key_at_once_without_grace(agent):
    old, old_secret = factories.make_key(agent)

    key_rotate(key=old, actor=SYSTEM)

    assert refusal(key_verify, old_secret) == (401, "unauthorized", "key_revoked")


def test_it_keeps_the_old_key_working_until_the_grace_period_ends(agent):
    with time_machine.travel(T0, tick=False):
        old, old_secret = factories.make_key(agent)
        new, new_secret = key_rotate(key=old, actor=SYSTEM, grace_seconds=3600)

    with time_machine.travel(T0 + timedelta(seconds=3599), tick=False):
        assert key_verify(old_secret).pk == old.pk
        assert key_verify(new_secret).pk == new.pk
    with time_machine.travel(T0 + timedelta(seconds=3600), tick=False):
        assert refusal(key_verify, old_secret) == (401, "unauthorized", "key_revoked")
        assert key_verify(new_secret).pk == new.pk


def test_it_refuses_to_rotate_a_key_twice(agent):
    old, _ = factories.make_key(agent)
    key_rotate(key=old, actor=SYSTEM, grace_seconds=600)

    assert refusal(key_rotate, key=old, actor=SYSTEM) == (400, "invalid_request", "key_not_active")
    assert Key.objects.filter(agent=agent).count() == 2


def test_it_refuses_to_rotate_a_revoked_key(agent):
    key, _ = factories.make_key(agent)
    key_revoke(key=key, actor=SYSTEM)

    assert refusal(key_rotate, key=key, actor=SYSTEM) == (400, "invalid_request", "key_not_active")


def test_it_rotates_the_successor_again(agent):
    old, _ = factories.make_key(agent)
    new, _ = key_rotate(key=old, actor=SYSTEM)

    newer, newer_secret = key_rotate(key=new, actor=SYSTEM)

    assert key_verify(newer_secret).pk == newer.pk


def test_it_revokes_a_key_in_its_grace_period_at_once(agent):
    old, old_secret = factories.make_key(agent)
    key_rotate(key=old, actor=SYSTEM, grace_seconds=3600)

    key_revoke(key=Key.objects.get(pk=old.pk), actor=SYSTEM)

    assert refusal(key_verify, old_secret) == (401, "unauthorized", "key_revoked")


def test_it_accepts_a_grace_period_of_seven_days(agent):
    with time_machine.travel(T0, tick=False):
        old, old_secret = factories.make_key(agent)
        key_rotate(key=old, actor=SYSTEM, grace_seconds=7 * 24 * 3600)

    with time_machine.travel(T0 + timedelta(days=7) - timedelta(seconds=1), tick=False):
        assert key_verify(old_secret).pk == old.pk


@pytest.mark.parametrize("grace", [7 * 24 * 3600 + 1, -1, 1.5, None])
def test_it_refuses_a_grace_period_outside_0_to_seven_days(agent, grace):
    old, old_secret = factories.make_key(agent)

    with pytest.raises(ValidationError) as caught:
        key_rotate(key=old, actor=SYSTEM, grace_seconds=grace)

    assert "grace_seconds" in caught.value.message_dict
    assert Key.objects.get(pk=old.pk).rotated_to_id is None
    assert key_verify(old_secret).pk == old.pk


# --- the agent behind the key ---


def test_it_refuses_keys_of_a_suspended_agent_as_agent_suspended(agent):
    _, secret = factories.make_key(agent)

    agent_update(agent=agent, actor=SYSTEM, data={"status": "suspended"})

    assert refusal(key_verify, secret) == (403, "forbidden", "agent_suspended")


def test_it_accepts_keys_again_when_the_agent_is_reactivated(agent):
    key, secret = factories.make_key(agent)
    agent_update(agent=agent, actor=SYSTEM, data={"status": "suspended"})

    agent_update(agent=agent, actor=SYSTEM, data={"status": "active"})

    assert key_verify(secret).pk == key.pk


def test_it_revokes_every_key_of_a_deleted_agent(agent):
    _, first = factories.make_key(agent)
    _, second = factories.make_key(agent)

    agent_delete(agent=agent, actor=SYSTEM)

    assert not Key.objects.filter(agent=agent, revoked_at=None).exists()
    assert refusal(key_verify, first) == (401, "unauthorized", "key_revoked")
    assert refusal(key_verify, second) == (401, "unauthorized", "key_revoked")


def test_it_issues_no_key_to_a_deleted_agent(agent):
    agent_delete(agent=agent, actor=SYSTEM)

    with pytest.raises(ValidationError):
        factories.make_key(agent)


def test_it_refuses_an_app_of_another_tenant(agent, outsider):
    foreign_app = factories.make_app(outsider)

    with pytest.raises(ValidationError) as caught:
        factories.make_key(agent, app=foreign_app)

    assert "app_id" in caught.value.message_dict


# --- scopes and domains ---


def test_it_grants_all_three_scopes_by_default(agent):
    key, _ = factories.make_key(agent)

    assert key.scopes == ["chat:completions", "embeddings", "models:read"]


@pytest.mark.parametrize("scopes", [[], ["admin"], "embeddings"])
def test_it_refuses_empty_or_unknown_scopes(agent, scopes):
    with pytest.raises(ValidationError) as caught:
        factories.make_key(agent, scopes=scopes)

    assert "scopes" in caught.value.message_dict


def test_it_accepts_an_empty_allowed_user_domains_list_on_a_key(agent):
    key, _ = factories.make_key(agent, allowed_user_domains=[])

    assert Key.objects.get(pk=key.pk).allowed_user_domains == []


def test_it_refuses_a_key_domain_that_is_not_a_domain(agent):
    with pytest.raises(ValidationError) as caught:
        factories.make_key(agent, allowed_user_domains=["not a domain"])

    assert "allowed_user_domains" in caught.value.message_dict


# --- last use ---


def test_it_records_last_use_on_first_touch(agent):
    key, _ = factories.make_key(agent)

    with time_machine.travel(T0, tick=False):
        credential_touch(Key, key.id)

    assert Key.objects.get(pk=key.pk).last_used_at == T0


def test_it_writes_last_use_at_most_once_per_60_seconds(agent):
    key, _ = factories.make_key(agent)
    with time_machine.travel(T0, tick=False):
        credential_touch(Key, key.id)

    with time_machine.travel(T0 + timedelta(seconds=59), tick=False):
        credential_touch(Key, key.id)
    assert Key.objects.get(pk=key.pk).last_used_at == T0

    with time_machine.travel(T0 + timedelta(seconds=61), tick=False):
        credential_touch(Key, key.id)
    assert Key.objects.get(pk=key.pk).last_used_at == T0 + timedelta(seconds=61)


def test_it_touches_only_the_key_that_was_used(agent):
    used, _ = factories.make_key(agent)
    idle, _ = factories.make_key(agent)

    credential_touch(Key, used.id)

    assert Key.objects.get(pk=idle.pk).last_used_at is None
