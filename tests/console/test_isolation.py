"""Tenant staff cannot list, open, change, delete, act on or pick another tenant's objects.

The stranger is an admin of the outsider tenant; every test also checks that the stranger
does see their own tenant's counterpart, so a page that shows nothing at all cannot pass.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.urls import reverse

from apps.models import App, Policy
from identity.models import Agent, AgentStatus
from keys.models import Key, OrgKey
from keys.services import key_verify
from providers.models import Alias
from tests import factories
from tests.console.conftest import admin_url

KINDS = ["app", "agent", "key", "policy", "provider", "alias", "org_key", "request_log", "event"]


def mentions(html: str, obj) -> bool:
    return admin_url(obj) in html or str(obj.pk) in html or quote(obj.pk) in html


@pytest.mark.parametrize("kind", KINDS)
def test_it_lists_only_the_staff_tenants_objects(stranger_client, owned, foreign, kind):
    response = stranger_client.get(admin_url(type(getattr(owned, kind)), "changelist"))
    html = response.content.decode()
    assert response.status_code == 200
    assert mentions(html, getattr(foreign, kind))
    assert not mentions(html, getattr(owned, kind))


@pytest.mark.parametrize("kind", KINDS)
def test_it_answers_another_tenants_object_url_as_an_unknown_one(stranger_client, owned, foreign, kind):
    obj = getattr(owned, kind)
    response = stranger_client.get(admin_url(obj))
    unknown = stranger_client.get(admin_url(obj).replace(quote(obj.pk), quote(f"{obj.pk}x")))
    assert response.status_code == unknown.status_code == 302
    assert response.url == unknown.url == reverse("admin:index")
    assert stranger_client.get(admin_url(getattr(foreign, kind))).status_code == 200


@pytest.mark.parametrize("view", ["history", "delete"])
@pytest.mark.parametrize("kind", KINDS)
def test_it_hides_another_tenants_history_and_delete_pages(stranger_client, owned, kind, view):
    response = stranger_client.get(admin_url(getattr(owned, kind), view))
    # Unknown (302 to the index) where deleting is possible, forbidden where it never is.
    assert response.status_code in (302, 403)
    assert not mentions(response.content.decode(), getattr(owned, kind))


@pytest.mark.parametrize("kind", ["app", "agent", "key", "policy", "provider", "alias"])
def test_it_refuses_to_change_another_tenants_object(stranger_client, owned, kind):
    obj = getattr(owned, kind)
    before = type(obj).objects.filter(pk=obj.pk).values().get()
    response = stranger_client.post(admin_url(obj), {"name": "hijacked", "alias": "hijacked"})
    assert response.status_code == 302
    assert response.url == reverse("admin:index")
    assert type(obj).objects.filter(pk=obj.pk).values().get() == before


@pytest.mark.parametrize("kind", ["app", "agent", "policy", "provider", "alias"])
def test_it_refuses_to_delete_another_tenants_object(stranger_client, owned, kind):
    obj = getattr(owned, kind)
    response = stranger_client.post(admin_url(obj, "delete"), {"post": "yes"})
    assert response.status_code == 302
    assert type(obj).objects.filter(pk=obj.pk).exists()
    assert getattr(type(obj).objects.get(pk=obj.pk), "deleted_at", None) is None


def test_it_offers_only_the_staff_tenants_agents_and_apps_for_a_new_key(stranger_client, owned, foreign):
    form = stranger_client.get(admin_url(Key, "add")).context["adminform"].form
    assert list(form.fields["agent"].queryset) == [foreign.agent]
    assert list(form.fields["app"].queryset) == [foreign.app]


def test_it_offers_only_the_staff_tenants_apps_for_an_agent(stranger_client, owned, foreign):
    form = stranger_client.get(admin_url(Agent, "add")).context["adminform"].form
    assert list(form.fields["app"].queryset) == [foreign.app]


def test_it_offers_only_the_staff_tenants_apps_and_agents_for_a_policy(stranger_client, owned, foreign):
    form = stranger_client.get(admin_url(Policy, "add")).context["adminform"].form
    assert list(form.fields["apps"].queryset) == [foreign.app]
    assert list(form.fields["agents"].queryset) == [foreign.agent]


def test_it_refuses_a_key_for_another_tenants_agent(stranger_client, owned, foreign):
    response = stranger_client.post(
        admin_url(Key, "add"),
        {"agent": owned.agent.pk, "name": "smuggled", "scopes": ["chat:completions"], "expires_in_days": "30"},
    )
    assert response.status_code == 200
    assert "agent" in response.context["adminform"].form.errors
    assert not Key.objects.filter(name="smuggled").exists()


def test_it_refuses_a_key_bound_to_another_tenants_app(stranger_client, owned, foreign):
    response = stranger_client.post(
        admin_url(Key, "add"),
        {
            "agent": foreign.agent.pk, "app": owned.app.pk, "name": "smuggled", "scopes": ["chat:completions"],
            "expires_in_days": "30",
        },
    )  # fmt: skip
    assert response.status_code == 200
    assert "app" in response.context["adminform"].form.errors
    assert not Key.objects.filter(name="smuggled").exists()


def test_it_refuses_a_policy_on_another_tenants_app(stranger_client, owned, foreign):
    response = stranger_client.post(
        admin_url(Policy, "add"), {"name": "smuggled", "timezone": "UTC", "apps": [owned.app.pk]}
    )
    assert response.status_code == 200
    assert "apps" in response.context["adminform"].form.errors
    assert not Policy.objects.filter(name="smuggled").exists()


def test_it_refuses_an_alias_to_another_tenants_provider(stranger_client, owned, foreign):
    targets = f'[{{"provider_id": "{owned.provider.pk}", "model": "mock-small"}}]'
    response = stranger_client.post(admin_url(Alias, "add"), {"alias": "smuggled", "targets": targets})
    assert response.status_code == 200
    assert "targets" in response.context["adminform"].form.errors
    assert not Alias.objects.filter(alias="smuggled").exists()


def test_it_creates_objects_in_the_staff_tenant_only(stranger_client, stranger, owned, foreign):
    response = stranger_client.post(
        admin_url(App, "add"),
        {
            "name": "Mine", "slug": "mine-app", "description": "", "key_name": "X-API-Key", "key_location": "header",
            "allowed_user_domains": "", "scope_prefix": "", "jwt_mode": "off", "jwt_leeway_seconds": "30",
            "body_capture_max_bytes": "16384", "tenant": owned.tenant.pk, "guardrails-TOTAL_FORMS": "0",
            "guardrails-INITIAL_FORMS": "0", "jwt_revocations-TOTAL_FORMS": "0", "jwt_revocations-INITIAL_FORMS": "0",
        },
    )  # fmt: skip
    assert response.status_code == 302
    assert App.objects.get(slug="mine-app").tenant_id == foreign.tenant.pk


def test_it_runs_actions_only_on_the_staff_tenants_objects(stranger_client, owned, foreign):
    stranger_client.post(
        admin_url(Key, "changelist"), {"action": "revoke_keys", "_selected_action": [owned.key.pk, foreign.key.pk]}
    )
    stranger_client.post(
        admin_url(Agent, "changelist"), {"action": "suspend_agents", "_selected_action": [owned.agent.pk]}
    )
    assert key_verify(owned.key_secret).pk == owned.key.pk
    assert Agent.objects.get(pk=owned.agent.pk).status == AgentStatus.ACTIVE
    assert Key.objects.get(pk=foreign.key.pk).revoked_at is not None


def test_it_revokes_no_org_key_of_another_tenant(stranger_client, owned):
    stranger_client.post(
        admin_url(OrgKey, "changelist"), {"action": "revoke_org_keys", "_selected_action": [owned.org_key.pk]}
    )
    assert OrgKey.objects.get(pk=owned.org_key.pk).revoked_at is None


def test_it_shows_staff_their_own_tenant_only(stranger_client, owned, foreign):
    html = stranger_client.get(reverse("admin:tenants_tenant_changelist")).content.decode()
    assert foreign.tenant.name in html
    assert owned.tenant.name not in html
    assert stranger_client.get(admin_url(owned.tenant)).status_code == 302
    assert stranger_client.get(admin_url(foreign.tenant)).status_code == 200


def test_it_never_shows_another_tenants_names_in_list_filters(stranger_client, owned, foreign):
    # Django hides a filter with a single choice: give the outsider two agents and two apps.
    other_app = factories.make_app(foreign.tenant)
    factories.make_key(factories.make_agent(foreign.tenant), app=other_app)
    html = stranger_client.get(admin_url(Key, "changelist")).content.decode()
    # The filters link to ?agent__id__exact=<id>: ids, not names, are unambiguous.
    assert f"agent__id__exact={foreign.agent.pk}" in html
    assert f"app__id__exact={other_app.pk}" in html
    assert owned.agent.pk not in html
    assert owned.app.pk not in html


def test_it_refuses_a_superuser_mixing_two_tenants_in_one_key(superuser_client, owned, foreign):
    response = superuser_client.post(
        admin_url(Key, "add"),
        {
            "agent": owned.agent.pk, "app": foreign.app.pk, "name": "mixed", "scopes": ["chat:completions"],
            "expires_in_days": "30",
        },
    )  # fmt: skip
    assert response.status_code == 200
    assert "app" in response.context["adminform"].form.errors
    assert not Key.objects.filter(name="mixed").exists()


def test_it_refuses_a_superuser_mixing_two_tenants_in_one_policy(superuser_client, owned, foreign):
    response = superuser_client.post(
        admin_url(Policy, "add"),
        {"tenant": owned.tenant.pk, "name": "mixed", "timezone": "UTC", "agents": [foreign.agent.pk]},
    )
    assert response.status_code == 200
    assert "agents" in response.context["adminform"].form.errors
    assert not Policy.objects.filter(name="mixed").exists()


@pytest.mark.parametrize("model", [App, Agent, Key, Policy, Alias, OrgKey])
def test_it_never_lets_staff_choose_the_tenant(owner_client, superuser_client, owned, model):
    assert "tenant" not in owner_client.get(admin_url(model, "add")).context["adminform"].form.fields
    assert "tenant" not in owner_client.get(admin_url(getattr(owned, _kind(model)))).context["adminform"].form.fields
    superuser_fields = superuser_client.get(admin_url(model, "add")).context["adminform"].form.fields
    # A key's tenant is its agent's; everything else is placed in a tenant by the superuser.
    assert ("tenant" in superuser_fields) is (model is not Key)


def _kind(model) -> str:
    return {App: "app", Agent: "agent", Key: "key", Policy: "policy", Alias: "alias", OrgKey: "org_key"}[model]


@pytest.mark.parametrize("kind", ["app", "agent", "key", "policy", "provider", "alias", "org_key", "event"])
def test_it_refuses_object_permissions_on_another_tenants_object(rf, stranger, owned, foreign, kind):
    """Defence in depth: even handed a foreign object, the permission checks say no."""
    model_admin = admin.site._registry[type(getattr(owned, kind))]
    request = rf.get("/admin/")
    request.user = stranger
    assert model_admin.has_view_permission(request, getattr(foreign, kind))
    assert not model_admin.has_view_permission(request, getattr(owned, kind))
    assert not model_admin.has_change_permission(request, getattr(owned, kind))
    assert not model_admin.has_delete_permission(request, getattr(owned, kind))


@pytest.mark.parametrize(
    ("source", "field", "kind"), [("keys.key", "agent", "agent"), ("identity.agent", "app", "app")]
)
def test_it_scopes_the_autocomplete_lookup_to_the_staff_tenant(stranger_client, owned, foreign, source, field, kind):
    app_label, model_name = source.split(".")
    response = stranger_client.get(
        reverse("admin:autocomplete"), {"app_label": app_label, "model_name": model_name, "field_name": field}
    )
    assert response.status_code == 200
    ids = {row["id"] for row in response.json()["results"]}
    assert ids == {getattr(foreign, kind).pk}
