"""Org keys (SPEC sections 2 and 5.0): management credentials, and the tenant's last admin."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError

from core.actors import SYSTEM
from forensics.models import Event
from keys import secrets as key_secrets
from keys.models import OrgKey
from keys.services import credential_touch, org_key_create, org_key_revoke, org_key_verify
from tests import factories
from tests.core.raw_sql import raw_text
from tests.core.refusal import refusal

T0 = datetime(2030, 1, 15, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def first_admin_key(db):
    """The admin org key every new tenant starts with, and its secret."""
    _, org_key, secret = factories.make_tenant_with_org_key("Owner Org")
    return org_key, secret


# --- create and verify ---


def test_it_issues_an_aid_org_secret_of_at_least_32_base62_characters(tenant):
    org_key, secret = factories.make_org_key(tenant)

    assert re.match(r"^aid_org_[A-Za-z0-9]{32,}$", secret)
    assert re.match(r"^okey_[A-Za-z0-9]{12,}$", org_key.id)
    assert org_key.prefix == secret[: len("aid_org_") + 4]


def test_it_never_stores_the_org_key_secret(tenant):
    _, secret = factories.make_org_key(tenant)

    assert secret.removeprefix("aid_org_") not in raw_text(OrgKey._meta.db_table)
    assert secret.removeprefix("aid_org_") not in raw_text(Event._meta.db_table)


def test_it_verifies_an_org_key_and_returns_its_tenant_and_role(tenant):
    org_key, secret = factories.make_org_key(tenant, role="viewer")

    verified = org_key_verify(secret)

    assert (verified.pk, verified.tenant_id, verified.role) == (org_key.pk, tenant.id, "viewer")


def test_it_compares_org_key_digests_in_constant_time(tenant, compare_digest_calls):
    _, secret = factories.make_org_key(tenant)

    org_key_verify(secret)

    digest = key_secrets.secret_digest(secret)
    assert (digest, digest) in compare_digest_calls


def test_it_refuses_an_unknown_org_key_as_invalid_key(tenant):
    assert refusal(org_key_verify, "aid_org_" + "B" * 40) == (401, "unauthorized", "invalid_key")


def test_it_refuses_a_string_that_is_no_org_key_as_invalid_key(tenant):
    assert refusal(org_key_verify, "Bearer nonsense") == (401, "unauthorized", "invalid_key")


def test_it_refuses_an_agent_key_on_the_management_api_as_wrong_credential_type(agent):
    _, agent_secret = factories.make_key(agent)

    assert refusal(org_key_verify, agent_secret) == (403, "forbidden", "wrong_credential_type")


def test_it_refuses_an_unknown_role(tenant):
    with pytest.raises(ValidationError) as caught:
        factories.make_org_key(tenant, role="owner")

    assert "role" in caught.value.message_dict


def test_it_issues_org_keys_without_expiry_by_default(tenant):
    org_key, _ = factories.make_org_key(tenant)

    assert org_key.expires_at is None


@pytest.mark.parametrize("days", [0, 366])
def test_it_refuses_org_key_lifetimes_outside_1_to_365_days(tenant, days):
    with pytest.raises(ValidationError):
        org_key_create(tenant_id=tenant.id, actor=SYSTEM, expires_in_days=days)


def test_it_refuses_an_expired_org_key_as_key_expired(tenant):
    with time_machine.travel(T0, tick=False):
        _, secret = org_key_create(tenant_id=tenant.id, actor=SYSTEM, expires_in_days=1)

    with time_machine.travel(T0 + timedelta(days=1) - timedelta(seconds=1), tick=False):
        assert org_key_verify(secret).tenant_id == tenant.id
    with time_machine.travel(T0 + timedelta(days=1), tick=False):
        assert refusal(org_key_verify, secret) == (401, "unauthorized", "key_expired")


# --- revoke and the last admin ---


def test_it_refuses_a_revoked_org_key_as_key_revoked(tenant):
    org_key, secret = factories.make_org_key(tenant)

    org_key_revoke(org_key=org_key, actor=SYSTEM)

    assert refusal(org_key_verify, secret) == (401, "unauthorized", "key_revoked")


def test_it_refuses_to_revoke_the_last_admin_key(first_admin_key):
    org_key, secret = first_admin_key

    assert refusal(org_key_revoke, org_key=org_key, actor=SYSTEM) == (400, "invalid_request", "last_admin")
    assert org_key_verify(secret).pk == org_key.pk


def test_it_does_not_count_viewer_keys_as_admins(first_admin_key):
    org_key, _ = first_admin_key
    factories.make_org_key(org_key.tenant, role="viewer")

    assert refusal(org_key_revoke, org_key=org_key, actor=SYSTEM) == (400, "invalid_request", "last_admin")


def test_it_revokes_an_admin_key_once_another_admin_key_exists(first_admin_key):
    org_key, secret = first_admin_key
    factories.make_org_key(org_key.tenant, role="admin")

    org_key_revoke(org_key=org_key, actor=SYSTEM)

    assert refusal(org_key_verify, secret) == (401, "unauthorized", "key_revoked")


def test_it_revokes_the_last_admin_key_once_a_console_admin_exists(first_admin_key):
    org_key, _ = first_admin_key
    factories.make_console_user(org_key.tenant, role="admin")

    org_key_revoke(org_key=org_key, actor=SYSTEM)

    assert OrgKey.objects.get(pk=org_key.pk).revoked_at is not None


def test_it_does_not_count_console_viewers_as_admins(first_admin_key):
    org_key, _ = first_admin_key
    factories.make_console_user(org_key.tenant, role="viewer")

    assert refusal(org_key_revoke, org_key=org_key, actor=SYSTEM) == (400, "invalid_request", "last_admin")


def test_it_does_not_count_inactive_console_admins(first_admin_key):
    org_key, _ = first_admin_key
    user = factories.make_console_user(org_key.tenant, role="admin")
    user.is_active = False
    user.save()

    assert refusal(org_key_revoke, org_key=org_key, actor=SYSTEM) == (400, "invalid_request", "last_admin")


def test_it_does_not_count_admins_of_another_tenant(first_admin_key, outsider):
    org_key, _ = first_admin_key
    factories.make_org_key(outsider, role="admin")
    factories.make_console_user(outsider, role="admin")

    assert refusal(org_key_revoke, org_key=org_key, actor=SYSTEM) == (400, "invalid_request", "last_admin")


def test_it_does_not_count_an_expired_admin_key(first_admin_key):
    org_key, _ = first_admin_key
    with time_machine.travel(T0, tick=False):
        org_key_create(tenant_id=org_key.tenant_id, actor=SYSTEM, expires_in_days=1)

    with time_machine.travel(T0 + timedelta(days=2), tick=False):
        assert refusal(org_key_revoke, org_key=org_key, actor=SYSTEM) == (400, "invalid_request", "last_admin")


def test_it_does_not_count_a_revoked_admin_key(first_admin_key):
    org_key, _ = first_admin_key
    other, _ = factories.make_org_key(org_key.tenant, role="admin")
    org_key_revoke(org_key=other, actor=SYSTEM)

    assert refusal(org_key_revoke, org_key=org_key, actor=SYSTEM) == (400, "invalid_request", "last_admin")


def test_it_revokes_a_viewer_key_even_when_one_admin_key_remains(first_admin_key):
    org_key, _ = first_admin_key
    viewer, viewer_secret = factories.make_org_key(org_key.tenant, role="viewer")

    org_key_revoke(org_key=viewer, actor=SYSTEM)

    assert refusal(org_key_verify, viewer_secret) == (401, "unauthorized", "key_revoked")


def test_it_keeps_the_first_revocation_time_when_an_org_key_is_revoked_twice(tenant):
    org_key, _ = factories.make_org_key(tenant)
    with time_machine.travel(T0, tick=False):
        org_key_revoke(org_key=org_key, actor=SYSTEM)
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        org_key_revoke(org_key=OrgKey.objects.get(pk=org_key.pk), actor=SYSTEM)

    assert OrgKey.objects.get(pk=org_key.pk).revoked_at == T0
    assert Event.objects.filter(object_id=org_key.id, action="org_key.revoked").count() == 1


def test_it_writes_org_key_last_use_at_most_once_per_60_seconds(tenant):
    org_key, _ = factories.make_org_key(tenant)
    with time_machine.travel(T0, tick=False):
        credential_touch(OrgKey, org_key.id)
    with time_machine.travel(T0 + timedelta(seconds=30), tick=False):
        credential_touch(OrgKey, org_key.id)

    assert OrgKey.objects.get(pk=org_key.pk).last_used_at == T0
