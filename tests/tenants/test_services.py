"""Tenant and console-membership writes."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from core.actors import SYSTEM
from forensics.models import Event
from keys.models import OrgKey
from keys.services import org_key_verify
from providers.models import ModelPrice
from provisioning.services import membership_create, tenant_create
from tenants.models import Membership
from tests import factories


def test_it_creates_a_tenant_with_one_admin_org_key(db):
    tenant, org_key, secret = tenant_create(name="Acme")

    assert org_key_verify(secret).pk == org_key.pk
    assert list(OrgKey.objects.filter(tenant=tenant).values_list("role", flat=True)) == ["admin"]


def test_a_new_tenant_starts_with_no_price_overrides(db):
    # List prices come from genai-prices (providers.pricing); a copy in the tenant's table
    # would outlive every price update.
    tenant, _, _ = tenant_create(name="Acme")

    assert not ModelPrice.objects.filter(tenant_id=tenant.id).exists()


def test_it_records_the_creation_in_the_tenants_event_trail(db):
    tenant, _, _ = tenant_create(name="Acme")

    actions = set(Event.objects.filter(tenant_id=tenant.id).values_list("action", flat=True))
    assert {"tenant.created", "org_key.created"} <= actions


def test_it_refuses_a_tenant_without_a_name(db):
    with pytest.raises(ValidationError):
        tenant_create(name="")


def test_it_adds_a_console_user_as_staff_of_one_tenant(tenant):
    membership = membership_create(tenant=tenant, email="ann@example.com", actor=SYSTEM, role="viewer")

    assert (membership.tenant_id, membership.role) == (tenant.id, "viewer")
    assert membership.user.is_staff
    assert not membership.user.is_superuser


def test_it_makes_an_existing_user_staff_when_adding_them(tenant):
    user = get_user_model().objects.create_user(username="ann@example.com", email="ann@example.com")

    membership_create(tenant=tenant, email="ann@example.com", actor=SYSTEM)

    user.refresh_from_db()
    assert user.is_staff
    assert user.membership.tenant_id == tenant.id


def test_it_changes_the_role_of_a_user_already_in_the_tenant(tenant):
    factories.make_console_user(tenant, email="ann@example.com", role="viewer")

    membership = membership_create(tenant=tenant, email="ann@example.com", actor=SYSTEM, role="admin")

    assert membership.role == "admin"
    assert Membership.objects.filter(user__username="ann@example.com").count() == 1


def test_it_refuses_to_move_a_console_user_of_another_tenant(tenant, outsider):
    user = factories.make_console_user(outsider, email="ann@example.com")

    with pytest.raises(ValidationError) as caught:
        membership_create(tenant=tenant, email="ann@example.com", actor=SYSTEM)

    assert "email" in caught.value.message_dict
    assert Membership.objects.get(user=user).tenant_id == outsider.id


def test_it_refuses_an_unknown_membership_role(tenant):
    with pytest.raises(ValidationError) as caught:
        membership_create(tenant=tenant, email="ann@example.com", actor=SYSTEM, role="owner")

    assert "role" in caught.value.message_dict
