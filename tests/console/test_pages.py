"""Every console page renders, for a platform superuser and for tenant staff, and shows
staff nothing of another tenant."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.core import checks
from django.db import connection
from django.test.utils import CaptureQueriesContext

from forensics.models import Event, RequestLog
from tenants.models import Membership, Tenant
from tests import factories
from tests.console.conftest import admin_url, logged_in, make_request_log

PROJECT_APPS = {"tenants", "apps", "identity", "keys", "proxy", "forensics"}
PROJECT_MODELS = sorted(
    (m for m in admin.site._registry if m._meta.app_label in PROJECT_APPS), key=lambda m: m._meta.label
)
# What tenant staff may not add from the console: evidence, tenants and memberships.
STAFF_CANNOT_ADD = {RequestLog, Event, Tenant, Membership}


def test_it_registers_every_console_model():
    labels = {m._meta.label for m in PROJECT_MODELS}
    assert labels == {
        "tenants.Tenant", "tenants.Membership", "apps.App", "apps.Policy", "identity.Agent", "keys.Key",
        "keys.OrgKey", "proxy.Provider", "proxy.Alias", "proxy.ModelPrice", "forensics.RequestLog",
        "forensics.Event",
    }  # fmt: skip


def test_it_passes_the_admin_system_checks():
    assert [e for e in checks.run_checks(tags=[checks.Tags.admin]) if e.level >= checks.ERROR] == []


@pytest.mark.parametrize("model", PROJECT_MODELS, ids=lambda m: m._meta.label)
def test_it_renders_every_changelist_and_add_page_for_a_superuser(superuser_client, owned, foreign, model):
    assert superuser_client.get(admin_url(model, "changelist")).status_code == 200
    assert superuser_client.get(admin_url(model, "changelist"), {"q": "x"}).status_code == 200
    expected_add = 403 if model in (RequestLog, Event) else 200
    assert superuser_client.get(admin_url(model, "add")).status_code == expected_add


@pytest.mark.parametrize("model", PROJECT_MODELS, ids=lambda m: m._meta.label)
def test_it_renders_every_changelist_and_add_page_for_tenant_staff(owner_client, owned, foreign, model):
    changelist = owner_client.get(admin_url(model, "changelist"))
    if model is Membership:
        assert changelist.status_code == 403
        return
    assert changelist.status_code == 200
    html = changelist.content.decode()
    assert foreign.tenant.name not in html
    assert owner_client.get(admin_url(model, "changelist"), {"q": "x"}).status_code == 200
    assert owner_client.get(admin_url(model, "add")).status_code == (403 if model in STAFF_CANNOT_ADD else 200)


@pytest.mark.parametrize(
    "name", ["app", "agent", "key", "policy", "provider", "alias", "org_key", "request_log", "event", "tenant"]
)
def test_it_renders_the_change_page_of_every_own_object(owner_client, member_client, owned, name):
    url = admin_url(getattr(owned, name))
    assert owner_client.get(url).status_code == 200
    assert member_client.get(url).status_code == 200


def test_it_lets_superusers_see_both_tenants(superuser_client, owned, foreign):
    for name in ["app", "agent", "key", "policy", "provider", "alias", "org_key", "request_log", "event"]:
        html = superuser_client.get(admin_url(type(getattr(owned, name)), "changelist")).content.decode()
        assert admin_url(getattr(owned, name)) in html, name
        assert admin_url(getattr(foreign, name)) in html, name
    html = superuser_client.get(admin_url(Tenant, "changelist")).content.decode()
    assert owned.tenant.name in html
    assert foreign.tenant.name in html


def test_it_keeps_memberships_to_superusers(owner_client, superuser_client, owner):
    membership = owner.membership
    assert owner_client.get(admin_url(Membership, "changelist")).status_code == 403
    assert owner_client.get(admin_url(membership)).status_code == 403
    assert superuser_client.get(admin_url(membership)).status_code == 200


def test_it_hides_the_index_from_staff_without_a_membership(db):
    user = factories.make_console_user(factories.make_tenant())
    user.membership.delete()
    html = logged_in(user).get("/admin/").content.decode()
    assert "have permission to view or edit anything" in html


@pytest.mark.parametrize("name", ["key", "agent", "app", "policy", "provider", "alias", "org_key", "request_log"])
def test_it_lists_without_a_query_per_row(owner_client, owned, tenant, name):
    """list_select_related at work: ten more rows cost no more queries."""
    url = admin_url(type(getattr(owned, name)), "changelist")
    owner_client.get(url)
    with CaptureQueriesContext(connection) as few:
        assert owner_client.get(url).status_code == 200
    for _ in range(10):
        build_more(tenant, owned, name)
    with CaptureQueriesContext(connection) as many:
        assert owner_client.get(url).status_code == 200
    assert len(many) == len(few)


def build_more(tenant, owned, name):
    match name:
        case "key":
            factories.make_key(factories.make_agent(tenant, app=owned.app), app=owned.app)
        case "agent":
            factories.make_agent(tenant, app=factories.make_app(tenant))
        case "app":
            factories.make_app(tenant)
        case "policy":
            factories.make_policy(tenant)
        case "provider":
            factories.make_provider(tenant)
        case "alias":
            factories.make_alias(tenant, targets=[{"provider_id": owned.provider.id, "model": "m"}])
        case "org_key":
            factories.make_org_key(tenant)
        case "request_log":
            make_request_log(tenant)
