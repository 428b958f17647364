"""Retention of the forensic record (SPEC 6): at least 30 days for a tenant's own admins, less
only for a platform superuser, never under a day — in the one service every writer uses, and
again where records are deleted."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from core.actors import SYSTEM, Actor
from forensics.models import Event, RequestLog
from forensics.sealing import audit_retention_apply, audit_seal_all
from forensics.tasks import audit_retention
from provisioning.services import tenant_update
from tenants.models import Tenant
from tests import factories
from tests.forensics.test_chain import make_records


def retention_of(tenant: Tenant) -> int:
    return Tenant.objects.get(pk=tenant.pk).log_retention_days


def org_key_actor(tenant: Tenant) -> Actor:
    return Actor("org_key", factories.make_org_key(tenant, role="admin")[0].id)


def console_actor(user) -> Actor:
    return Actor("user", str(user.pk))


@pytest.mark.parametrize("days", [0, 1, 29])
def test_it_refuses_a_tenant_org_key_retention_under_30_days(tenant, days):
    with pytest.raises(ValidationError) as caught:
        tenant_update(tenant=Tenant.objects.get(pk=tenant.pk), actor=org_key_actor(tenant),
                      data={"log_retention_days": days})  # fmt: skip

    assert "log_retention_days" in caught.value.message_dict
    assert retention_of(tenant) == 365
    assert not Event.objects.filter(tenant_id=tenant.id, action="tenant.updated").exists()


@pytest.mark.parametrize("days", ["0", "29"])
def test_it_refuses_a_retention_under_30_days_given_as_text(tenant, days):
    with pytest.raises(ValidationError):
        tenant_update(tenant=Tenant.objects.get(pk=tenant.pk), actor=org_key_actor(tenant),
                      data={"log_retention_days": days})  # fmt: skip

    assert retention_of(tenant) == 365


def test_it_refuses_a_tenant_console_admin_retention_under_30_days(tenant):
    admin = factories.make_console_user(tenant, role="admin")

    with pytest.raises(ValidationError):
        tenant_update(tenant=Tenant.objects.get(pk=tenant.pk), actor=console_actor(admin),
                      data={"log_retention_days": 7})  # fmt: skip

    assert retention_of(tenant) == 365


def test_it_lets_a_tenant_admin_keep_30_days_or_more(tenant):
    tenant_update(tenant=Tenant.objects.get(pk=tenant.pk), actor=org_key_actor(tenant),
                  data={"log_retention_days": 30})  # fmt: skip

    assert retention_of(tenant) == 30


def test_it_lets_a_platform_superuser_and_an_operator_set_less(tenant):
    superuser = factories.make_console_user(None, superuser=True)

    tenant_update(tenant=Tenant.objects.get(pk=tenant.pk), actor=console_actor(superuser),
                  data={"log_retention_days": 7})  # fmt: skip
    assert retention_of(tenant) == 7
    tenant_update(tenant=Tenant.objects.get(pk=tenant.pk), actor=SYSTEM, data={"log_retention_days": 1})
    assert retention_of(tenant) == 1


def test_it_refuses_an_inactive_superuser_less_than_30_days(tenant):
    superuser = factories.make_console_user(None, superuser=True)
    superuser.is_active = False
    superuser.save()

    with pytest.raises(ValidationError):
        tenant_update(tenant=Tenant.objects.get(pk=tenant.pk), actor=console_actor(superuser),
                      data={"log_retention_days": 7})  # fmt: skip


@pytest.mark.parametrize("actor", ["superuser", "system"])
def test_it_refuses_zero_days_to_everyone(tenant, actor):
    who = SYSTEM if actor == "system" else console_actor(factories.make_console_user(None, superuser=True))

    with pytest.raises(ValidationError) as caught:
        tenant_update(tenant=Tenant.objects.get(pk=tenant.pk), actor=who, data={"log_retention_days": 0})

    assert "log_retention_days" in caught.value.message_dict
    assert retention_of(tenant) == 365


def test_it_leaves_a_shorter_retention_set_by_the_platform_when_an_admin_edits_something_else(tenant):
    tenant_update(tenant=Tenant.objects.get(pk=tenant.pk), actor=SYSTEM, data={"log_retention_days": 7})

    tenant_update(tenant=Tenant.objects.get(pk=tenant.pk), actor=org_key_actor(tenant),
                  data={"name": "Renamed", "log_retention_days": 7})  # fmt: skip

    assert (Tenant.objects.get(pk=tenant.pk).name, retention_of(tenant)) == ("Renamed", 7)


def test_it_never_deletes_records_for_a_retention_under_a_day(tenant):
    make_records(tenant.id, 3)
    audit_seal_all()

    with pytest.raises(ValueError, match="under the floor"):
        audit_retention_apply(tenant_id=tenant.id, retention_days=0)

    assert RequestLog.objects.filter(tenant_id=tenant.id).count() == 3


@pytest.mark.django_db(transaction=True)
def test_it_skips_a_tenant_whose_stored_retention_is_under_a_day(tenant):
    """A value written around the services (or before they checked it) erases nothing."""
    make_records(tenant.id, 3)
    audit_seal_all()
    Tenant.objects.filter(pk=tenant.pk).update(log_retention_days=0)

    assert audit_retention.delay().get() == 0

    assert RequestLog.objects.filter(tenant_id=tenant.id).count() == 3


def test_it_offers_no_management_api_operation_that_takes_a_retention(db):
    """Only the console and commands change tenant settings: no API body may carry it."""
    schema = Client().get("/api/schema?format=json").json()

    assert "log_retention_days" not in str(schema["components"]["schemas"])
    assert not [path for path in schema["paths"] if "tenant" in path]
