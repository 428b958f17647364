"""Console writes go through the services: validation applies, events name the console user,
secrets stay write-only, and a viewer can write nothing."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry

from apps.models import App, GuardrailPolicy, Policy
from core.actors import SYSTEM
from core.crypto import decrypt_secret
from forensics.models import Event
from identity.models import Agent, AgentStatus
from keys.models import CredentialState, Key, OrgKey
from keys.services import org_key_revoke
from providers.models import Alias, ModelPrice, Provider
from provisioning.services import tenant_create
from tenants.models import Membership, Tenant
from tests import factories
from tests.console.conftest import UPSTREAM_API_KEY, admin_url


def app_data(**fields) -> dict:
    return {
        "name": "Support bot", "slug": "support-bot", "description": "", "key_name": "X-API-Key",
        "key_location": "header", "allowed_user_domains": "", "scope_prefix": "", "jwt_mode": "off",
        "jwt_leeway_seconds": "30", "body_capture_max_bytes": "16384", "guardrails-TOTAL_FORMS": "1",
        "guardrails-INITIAL_FORMS": "0", "guardrails-MIN_NUM_FORMS": "0", "guardrails-MAX_NUM_FORMS": "1",
        "guardrails-0-pii": "off", "guardrails-0-blocked_patterns": "[]", "guardrails-0-max_prompt_chars": "",
        "jwt_revocations-TOTAL_FORMS": "0", "jwt_revocations-INITIAL_FORMS": "0",
        "jwt_revocations-MIN_NUM_FORMS": "0", "jwt_revocations-MAX_NUM_FORMS": "1000",
    } | fields  # fmt: skip


def provider_data(**fields) -> dict:
    return {
        "name": "Upstream", "kind": "mock", "base_url": "", "api_version": "", "priority": "0", "api_key": "",
        "models": "[]", "timeout_seconds": "60", "extra_headers": "{}", "send_agent_identity": "on",
    } | fields  # fmt: skip


def user_event(action: str, object_id: str, user) -> Event:
    return Event.objects.get(action=action, object_id=object_id, actor_type="user", actor_id=str(user.pk))


def test_it_creates_an_app_with_guardrails_through_the_services(owner_client, owner, tenant):
    data = app_data(
        **{"guardrails-0-pii": "redact", "guardrails-0-blocked_patterns": '[{"name": "n", "pattern": "x"}]'}
    )
    response = owner_client.post(admin_url(App, "add"), data)
    assert response.status_code == 302
    app = App.objects.get(slug="support-bot")
    assert app.tenant == tenant
    assert GuardrailPolicy.objects.get(app=app).pii == "redact"
    user_event("app.created", app.pk, owner)
    user_event("guardrails.updated", app.pk, owner)


def test_it_updates_guardrails_on_the_app_page(owner_client, owner, owned):
    data = app_data(
        name=owned.app.name, slug=owned.app.slug,
        **{"guardrails-INITIAL_FORMS": "1", "guardrails-0-app": owned.app.pk, "guardrails-0-max_prompt_chars": "99"},
    )  # fmt: skip
    assert owner_client.post(admin_url(owned.app), data).status_code == 302
    assert GuardrailPolicy.objects.get(app=owned.app).max_prompt_chars == 99
    user_event("guardrails.updated", owned.app.pk, owner)


def test_it_shows_model_validation_errors_on_the_form(owner_client, tenant):
    response = owner_client.post(admin_url(App, "add"), app_data(allowed_user_domains="[]"))
    assert response.status_code == 200
    assert "allowed_user_domains" in response.context["adminform"].form.errors
    assert not App.objects.filter(slug="support-bot").exists()


def test_it_refuses_more_guardrail_patterns_than_the_api_allows(owner_client, tenant):
    patterns = json.dumps([{"name": f"p{i}", "pattern": "x"} for i in range(51)])
    response = owner_client.post(admin_url(App, "add"), app_data(**{"guardrails-0-blocked_patterns": patterns}))
    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][0].formset.errors[0]
    assert "at most 50" in str(errors["blocked_patterns"])
    assert not App.objects.filter(slug="support-bot").exists()


def test_it_makes_a_new_default_app_by_demoting_the_old_one(owner_client, owned):
    App.objects.filter(pk=owned.app.pk).update(is_default=True)
    assert owner_client.post(admin_url(App, "add"), app_data(is_default="on")).status_code == 302
    assert App.objects.get(slug="support-bot").is_default
    assert not App.objects.get(pk=owned.app.pk).is_default


def test_it_deletes_an_app_with_its_keys_through_app_delete(owner_client, owner, owned):
    factories.make_key(owned.agent, app=owned.app)
    response = owner_client.post(admin_url(owned.app, "delete"), {"post": "yes"})
    assert response.status_code == 302
    assert not App.objects.filter(pk=owned.app.pk).exists()
    user_event("app.deleted", owned.app.pk, owner)


def test_it_sets_policy_targets_through_the_service(owner_client, owner, owned):
    response = owner_client.post(
        admin_url(Policy, "add"),
        {"name": "strict", "enabled": "on", "timezone": "UTC", "apps": [owned.app.pk], "agents": [owned.agent.pk]},
    )
    assert response.status_code == 302
    policy = Policy.objects.get(name="strict")
    assert list(policy.apps.all()) == [owned.app]
    assert list(policy.agents.all()) == [owned.agent]
    assert user_event("policy.created", policy.pk, owner).changes["app_ids"]["after"] == [owned.app.pk]


def test_it_updates_policy_targets_through_the_service(owner_client, owner, owned):
    response = owner_client.post(
        admin_url(owned.policy), {"name": owned.policy.name, "timezone": "UTC", "apps": [], "agents": []}
    )
    assert response.status_code == 302
    assert not owned.policy.apps.exists()
    assert user_event("policy.updated", owned.policy.pk, owner).changes["agent_ids"]["after"] == []


def test_it_stores_a_provider_api_key_encrypted_and_never_shows_it(owner_client, owner, tenant):
    response = owner_client.post(admin_url(Provider, "add"), provider_data(api_key="sk-brand-new-secret-42"))
    assert response.status_code == 302
    provider = Provider.objects.get(name="Upstream")
    assert "sk-brand-new-secret-42" not in provider.api_key_encrypted
    assert decrypt_secret(provider.api_key_encrypted) == "sk-brand-new-secret-42"
    user_event("provider.created", provider.pk, owner)
    for url in [admin_url(provider), admin_url(Provider, "changelist")]:
        html = owner_client.get(url).content.decode()
        assert "sk-brand-new-secret-42" not in html
        assert provider.api_key_encrypted not in html


def test_it_keeps_the_stored_provider_key_when_the_field_is_left_blank(owner_client, owned):
    response = owner_client.post(admin_url(owned.provider), provider_data(name="Renamed", api_key=""))
    assert response.status_code == 302
    provider = Provider.objects.get(pk=owned.provider.pk)
    assert provider.name == "Renamed"
    assert decrypt_secret(provider.api_key_encrypted) == UPSTREAM_API_KEY


def test_it_replaces_or_removes_the_provider_key(owner_client, owned):
    owner_client.post(admin_url(owned.provider), provider_data(api_key="sk-replacement"))
    assert decrypt_secret(Provider.objects.get(pk=owned.provider.pk).api_key_encrypted) == "sk-replacement"
    owner_client.post(admin_url(owned.provider), provider_data(clear_api_key="on"))
    assert not Provider.objects.get(pk=owned.provider.pk).api_key_set


def test_it_never_renders_the_provider_key_on_its_page(owner_client, member_client, owned):
    for client in (owner_client, member_client):
        html = client.get(admin_url(owned.provider)).content.decode()
        assert UPSTREAM_API_KEY not in html
        assert owned.provider.api_key_encrypted not in html


def test_it_validates_alias_targets_and_uniqueness(owner_client, owned):
    targets = f'[{{"provider_id": "{owned.provider.pk}", "model": "mock-large"}}]'
    assert owner_client.post(admin_url(Alias, "add"), {"alias": "fast", "targets": targets}).status_code == 302
    again = owner_client.post(admin_url(Alias, "add"), {"alias": "fast", "targets": targets})
    assert again.status_code == 200
    assert again.context["adminform"].form.errors
    bad = owner_client.post(admin_url(Alias, "add"), {"alias": "broken", "targets": '[{"model": "x"}]'})
    assert "targets" in bad.context["adminform"].form.errors
    assert Alias.objects.filter(alias="fast").count() == 1


def test_it_soft_deletes_agents_and_hides_them_everywhere(owner_client, owner, owned):
    response = owner_client.post(admin_url(owned.agent, "delete"), {"post": "yes"})
    assert response.status_code == 302
    agent = Agent.objects.get(pk=owned.agent.pk)
    assert agent.deleted_at is not None
    assert Key.objects.get(pk=owned.key.pk).state() == CredentialState.REVOKED
    user_event("agent.deleted", agent.pk, owner)
    assert admin_url(agent) not in owner_client.get(admin_url(Agent, "changelist")).content.decode()
    key_form = owner_client.get(admin_url(Key, "add")).context["adminform"].form
    assert agent not in key_form.fields["agent"].queryset
    policy_form = owner_client.get(admin_url(Policy, "add")).context["adminform"].form
    assert agent not in policy_form.fields["agents"].queryset


def test_it_suspends_and_reactivates_agents(owner_client, owner, owned):
    changelist = admin_url(Agent, "changelist")
    owner_client.post(changelist, {"action": "suspend_agents", "_selected_action": [owned.agent.pk]})
    assert Agent.objects.get(pk=owned.agent.pk).status == AgentStatus.SUSPENDED
    user_event("agent.suspended", owned.agent.pk, owner)
    owner_client.post(changelist, {"action": "reactivate_agents", "_selected_action": [owned.agent.pk]})
    assert Agent.objects.get(pk=owned.agent.pk).status == AgentStatus.ACTIVE
    user_event("agent.reactivated", owned.agent.pk, owner)


def test_it_lets_tenant_admins_edit_their_tenant_but_not_add_or_delete_tenants(owner_client, owner, tenant):
    response = owner_client.post(
        admin_url(tenant),
        {
            "name": "Renamed Org",
            "rate_limit_fail_mode": "closed",
            "budget_fail_mode": "closed",
            "log_retention_days": "30",
        },
    )
    assert response.status_code == 302
    assert Tenant.objects.get(pk=tenant.pk).name == "Renamed Org"
    user_event("tenant.updated", tenant.pk, owner)
    assert owner_client.get(admin_url(Tenant, "add")).status_code == 403
    assert owner_client.post(admin_url(tenant, "delete"), {"post": "yes"}).status_code == 403


def test_it_edits_prices_with_an_event(owner_client, owner, tenant):
    price = ModelPrice.objects.create(tenant=tenant, model_pattern="gpt-4o*")
    response = owner_client.post(
        admin_url(price),
        {"model_pattern": "gpt-4o*", "input_per_million_usd": "1.5", "output_per_million_usd": "6"},
    )
    assert response.status_code == 302
    assert ModelPrice.objects.get(pk=price.pk).input_per_million_usd == Decimal("1.5")
    assert user_event("model_price.updated", str(price.pk), owner).changes["input_per_million_usd"]["after"] == "1.5"


@pytest.mark.parametrize("kind", ["app", "agent", "policy", "provider", "alias"])
def test_it_lets_a_viewer_look_but_not_change_or_delete(member_client, owned, kind):
    obj = getattr(owned, kind)
    before = type(obj).objects.filter(pk=obj.pk).values().get()
    assert member_client.get(admin_url(obj)).status_code == 200
    assert member_client.post(admin_url(obj), {"name": "changed", "alias": "changed"}).status_code == 403
    assert member_client.post(admin_url(obj, "delete"), {"post": "yes"}).status_code == 403
    assert member_client.get(admin_url(type(obj), "add")).status_code == 403
    assert type(obj).objects.filter(pk=obj.pk).values().get() == before


def test_it_lets_a_viewer_run_no_action(member_client, owned):
    response = member_client.get(admin_url(Key, "changelist"))
    assert "revoke_keys" not in response.content.decode()
    member_client.post(admin_url(Key, "changelist"), {"action": "revoke_keys", "_selected_action": [owned.key.pk]})
    member_client.post(
        admin_url(OrgKey, "changelist"), {"action": "revoke_org_keys", "_selected_action": [owned.org_key.pk]}
    )
    member_client.post(
        admin_url(Agent, "changelist"), {"action": "suspend_agents", "_selected_action": [owned.agent.pk]}
    )
    assert Key.objects.get(pk=owned.key.pk).revoked_at is None
    assert OrgKey.objects.get(pk=owned.org_key.pk).revoked_at is None
    assert Agent.objects.get(pk=owned.agent.pk).status == AgentStatus.ACTIVE


def test_it_lets_a_viewer_issue_no_key(member_client, owned):
    response = member_client.post(
        admin_url(Key, "add"), {"agent": owned.agent.pk, "scopes": ["embeddings"], "expires_in_days": "5"}
    )
    assert response.status_code == 403
    assert Key.objects.filter(agent=owned.agent).count() == 1


def test_it_shows_a_service_refusal_on_the_form_instead_of_failing(superuser_client, db):
    tenant, org_key, _ = tenant_create(name="Solo Org", admin_email="solo@example.com")
    org_key_revoke(org_key=org_key, actor=SYSTEM)  # the console admin is now the last admin
    membership = Membership.objects.get(tenant=tenant)
    response = superuser_client.post(admin_url(membership), {"role": "viewer"})
    assert response.status_code == 200
    assert "last admin credential" in response.content.decode()
    assert response.context["adminform"].form.data["role"] == "viewer"  # the user's input is kept
    assert Membership.objects.get(pk=membership.pk).role == "admin"


def test_it_refuses_to_delete_the_last_console_admin_with_a_message(superuser_client, db):
    tenant, org_key, _ = tenant_create(name="Solo Org", admin_email="solo@example.com")
    org_key_revoke(org_key=org_key, actor=SYSTEM)
    membership = Membership.objects.get(tenant=tenant)
    response = superuser_client.post(admin_url(membership, "delete"), {"post": "yes"}, follow=True)
    assert response.status_code == 200
    assert "last admin credential" in response.content.decode()
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_it_adds_console_members_through_membership_create(superuser_client, superuser, tenant):
    response = superuser_client.post(
        admin_url(Membership, "add"), {"tenant": tenant.pk, "email": "new@example.com", "role": "viewer"}
    )
    assert response.status_code == 302
    membership = Membership.objects.get(user__username="new@example.com")
    assert (membership.tenant, membership.role, membership.user.is_staff) == (tenant, "viewer", True)
    user_event("member.added", str(membership.user_id), superuser)


def test_it_refuses_a_member_who_belongs_to_a_tenant_already(superuser_client, owner, outsider):
    response = superuser_client.post(
        admin_url(Membership, "add"), {"tenant": outsider.pk, "email": owner.username, "role": "admin"}
    )
    assert response.status_code == 200
    assert "email" in response.context["adminform"].form.errors
    assert Membership.objects.get(user=owner).tenant_id != outsider.pk


def test_it_bulk_deletes_agents_softly_through_the_service(owner_client, owner, owned):
    second = factories.make_agent(owned.tenant)
    changelist = admin_url(Agent, "changelist")
    confirm = owner_client.post(
        changelist, {"action": "delete_selected", "_selected_action": [owned.agent.pk, second.pk]}
    )
    assert "its keys are revoked" in confirm.content.decode()
    owner_client.post(
        changelist, {"action": "delete_selected", "_selected_action": [owned.agent.pk, second.pk], "post": "yes"}
    )
    assert Agent.objects.filter(pk__in=[owned.agent.pk, second.pk], deleted_at__isnull=False).count() == 2
    user_event("agent.deleted", second.pk, owner)


def test_it_stores_an_emptied_json_object_as_its_default(owner_client, owned):
    response = owner_client.post(
        admin_url(Agent, "add"),
        {"name": "blank-meta", "description": "", "owner_email": "", "app": "", "status": "active",
         "allowed_models": "", "metadata": ""},
    )  # fmt: skip
    assert response.status_code == 302
    agent = Agent.objects.get(name="blank-meta")
    assert (agent.metadata, agent.allowed_models, agent.tenant_id) == ({}, None, owned.tenant.pk)


def test_it_does_not_render_a_typed_provider_key_back_on_a_refused_form(owner_client, owned):
    response = owner_client.post(
        admin_url(owned.provider), provider_data(api_key="sk-typed-then-refused", timeout_seconds="0")
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert "sk-typed-then-refused" not in response.content.decode()
    assert decrypt_secret(Provider.objects.get(pk=owned.provider.pk).api_key_encrypted) == UPSTREAM_API_KEY


def test_it_refuses_a_bulk_delete_that_removes_the_last_console_admin_as_a_whole(superuser_client, superuser, db):
    tenant, org_key, _ = tenant_create(name="Solo Org", admin_email="solo@example.com")
    org_key_revoke(org_key=org_key, actor=SYSTEM)
    membership = Membership.objects.get(tenant=tenant)
    viewer = factories.make_console_user(tenant, role="viewer").membership
    response = superuser_client.post(
        admin_url(Membership, "changelist"),
        {"action": "delete_selected", "_selected_action": [viewer.pk, membership.pk], "post": "yes"},
        follow=True,
    )
    assert response.status_code == 200
    assert "last admin credential" in response.content.decode()
    assert Membership.objects.filter(pk__in=[viewer.pk, membership.pk]).count() == 2
    assert not LogEntry.objects.filter(user=superuser).exists()


def tenant_data(**fields) -> dict:
    return {
        "name": "Owner Org", "rate_limit_fail_mode": "open", "budget_fail_mode": "closed", "log_retention_days": "365",
    } | fields  # fmt: skip


@pytest.mark.parametrize("days", ["0", "1", "29"])
def test_it_refuses_a_tenant_admin_retention_under_30_days(owner_client, tenant, days):
    response = owner_client.post(admin_url(tenant), tenant_data(log_retention_days=days))

    assert response.status_code == 200
    assert "log_retention_days" in response.context["adminform"].form.errors
    assert Tenant.objects.get(pk=tenant.pk).log_retention_days == 365


def test_it_lets_a_tenant_admin_set_30_days(owner_client, owner, tenant):
    response = owner_client.post(admin_url(tenant), tenant_data(log_retention_days="30"))

    assert response.status_code == 302
    assert Tenant.objects.get(pk=tenant.pk).log_retention_days == 30
    assert user_event("tenant.updated", tenant.pk, owner).changes["log_retention_days"] == {"before": 365, "after": 30}


def test_it_lets_a_platform_superuser_set_less_than_30_days_but_not_zero(superuser_client, tenant):
    assert superuser_client.post(admin_url(tenant), tenant_data(log_retention_days="7")).status_code == 302
    assert Tenant.objects.get(pk=tenant.pk).log_retention_days == 7

    response = superuser_client.post(admin_url(tenant), tenant_data(log_retention_days="0"))

    assert response.status_code == 200
    assert "log_retention_days" in response.context["adminform"].form.errors
    assert Tenant.objects.get(pk=tenant.pk).log_retention_days == 7


def test_it_lets_neither_a_viewer_nor_an_outsider_change_the_retention(member_client, stranger_client, tenant):
    # The viewer may look but not change (403); the outsider's admin does not find the tenant (302 away).
    for client, status in ((member_client, 403), (stranger_client, 302)):
        response = client.post(admin_url(tenant), tenant_data(log_retention_days="30"))

        assert response.status_code == status
        assert Tenant.objects.get(pk=tenant.pk).log_retention_days == 365


HEADER_SECRET = "org-hdr-secret-console-9d4e"


def test_it_never_renders_extra_header_values_on_the_provider_page(owner_client, member_client, tenant):
    provider = factories.make_provider(tenant, extra_headers={"OpenAI-Organization": HEADER_SECRET})

    for client in (owner_client, member_client):
        html = client.get(admin_url(provider)).content.decode()
        assert "OpenAI-Organization" in html
        assert HEADER_SECRET not in html
        assert provider.extra_headers_encrypted["OpenAI-Organization"] not in html
    assert HEADER_SECRET not in owner_client.get(admin_url(Provider, "changelist")).content.decode()


def test_it_keeps_a_masked_extra_header_and_encrypts_a_new_one_from_the_console(owner_client, owner, tenant):
    provider = factories.make_provider(tenant, extra_headers={"OpenAI-Organization": HEADER_SECRET})

    response = owner_client.post(
        admin_url(provider),
        provider_data(name=provider.name, extra_headers='{"OpenAI-Organization": "***", "X-Team": "blue"}'),
    )

    assert response.status_code == 302
    stored = Provider.objects.get(pk=provider.pk)
    assert stored.extra_headers_decrypted() == {"OpenAI-Organization": HEADER_SECRET, "X-Team": "blue"}
    assert "blue" not in str(stored.extra_headers_encrypted)
    change = user_event("provider.updated", provider.pk, owner).changes["extra_headers"]
    assert change["after"] == {"OpenAI-Organization": "***", "X-Team": "***"}


def test_it_creates_a_provider_with_encrypted_extra_headers_from_the_console(owner_client, tenant):
    response = owner_client.post(
        admin_url(Provider, "add"), provider_data(name="With headers", extra_headers=f'{{"X-Org": "{HEADER_SECRET}"}}')
    )

    assert response.status_code == 302
    provider = Provider.objects.get(tenant=tenant, name="With headers")
    assert provider.extra_headers_decrypted() == {"X-Org": HEADER_SECRET}
    assert HEADER_SECRET not in str(provider.extra_headers_encrypted)


def test_it_lets_a_viewer_change_no_extra_header(member_client, tenant):
    provider = factories.make_provider(tenant, extra_headers={"X-Team": "blue"})

    response = member_client.post(admin_url(provider), provider_data(name=provider.name, extra_headers="{}"))

    assert response.status_code == 403
    assert Provider.objects.get(pk=provider.pk).extra_headers_decrypted() == {"X-Team": "blue"}


def test_the_provider_form_offers_the_signed_identity_on_by_default_and_turns_it_off(owner_client, owner, tenant):
    form = owner_client.get(admin_url(Provider, "add")).context["adminform"].form
    assert form.initial.get("send_agent_identity", form.fields["send_agent_identity"].initial) is True

    data = provider_data()
    del data["send_agent_identity"]  # an unticked box is not sent
    assert owner_client.post(admin_url(Provider, "add"), data).status_code == 302

    provider = Provider.objects.get(tenant=tenant, name="Upstream")
    assert provider.send_agent_identity is False
    assert user_event("provider.created", provider.pk, owner).changes["send_agent_identity"]["after"] is False
