"""``manage.py create_tenant`` and ``manage.py demo`` (SPEC section 8)."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from apps.models import App
from core.actors import SYSTEM
from identity.models import Agent
from identity.services import agent_update
from keys.services import key_verify, org_key_verify
from providers.models import Alias, Provider
from tenants.models import Membership, Tenant
from tests import factories
from tests.core.refusal import refusal

ORG_SECRET_RE = re.compile(r"aid_org_[A-Za-z0-9]{32,}")
AGENT_SECRET_RE = re.compile(r"aid_sk_[A-Za-z0-9]{32,}")


def run(command: str, *args: str, **options: object) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


# --- create_tenant ---


def test_it_prints_an_org_key_of_the_new_tenant(db):
    output = run("create_tenant", "Acme")

    (secret,) = ORG_SECRET_RE.findall(output)
    org_key = org_key_verify(secret)
    assert org_key.role == "admin"
    assert Tenant.objects.get(pk=org_key.tenant_id).name == "Acme"
    assert org_key.tenant_id in output


def test_it_creates_no_console_user_without_an_admin_email(db):
    run("create_tenant", "Acme")

    assert not get_user_model().objects.exists()


def test_it_creates_a_staff_console_admin_for_the_admin_email(db):
    output = run("create_tenant", "Acme", admin_email="boss@acme.example")

    org_key = org_key_verify(ORG_SECRET_RE.search(output).group())
    user = get_user_model().objects.get(email="boss@acme.example")
    assert user.is_staff
    assert not user.is_superuser
    assert (user.membership.tenant_id, user.membership.role) == (org_key.tenant_id, "admin")


@pytest.mark.parametrize("email", ["not-an-email", "boss@", "boss@localhost"])
def test_it_refuses_an_invalid_admin_email(db, email):
    with pytest.raises(CommandError, match="not an email"):
        run("create_tenant", "Acme", admin_email=email)

    assert not Tenant.objects.exists()


def test_it_refuses_an_empty_tenant_name(db):
    with pytest.raises(CommandError):
        run("create_tenant", "")

    assert not Tenant.objects.exists()


def test_it_refuses_an_admin_email_of_another_tenants_console_user(db, outsider):
    user = factories.make_console_user(outsider, email="shared@example.com")

    with pytest.raises(CommandError):
        run("create_tenant", "Acme", admin_email="shared@example.com")

    assert Membership.objects.get(user=user).tenant_id == outsider.id
    assert not Tenant.objects.filter(name="Acme").exists()


# --- demo ---


def agent_secret_of(output: str) -> str:
    return re.search(r"agent key\s+(aid_sk_\S+)", output).group(1)


def org_secret_of(output: str) -> str:
    return re.search(r"org key\s+(aid_org_\S+)", output).group(1)


def test_it_seeds_a_demo_tenant_whose_keys_work(db):
    output = run("demo")

    agent_key = key_verify(agent_secret_of(output))
    org_key = org_key_verify(org_secret_of(output))
    assert agent_key.tenant_id == org_key.tenant_id
    assert Tenant.objects.get(pk=agent_key.tenant_id).name == "Demo"


def test_it_gives_the_demo_tenant_a_mock_provider_and_a_smart_default_alias(db):
    output = run("demo")

    tenant_id = key_verify(agent_secret_of(output)).tenant_id
    provider = Provider.objects.get(tenant_id=tenant_id, kind="mock")
    alias = Alias.objects.get(tenant_id=tenant_id, alias="smart-default")
    assert alias.targets[0]["provider_id"] == provider.id
    assert App.objects.get(tenant_id=tenant_id).is_default


def test_it_prints_a_ready_curl_line_with_the_agent_key(db):
    output = run("demo", port=9123)

    (curl,) = [line.strip() for line in output.splitlines() if line.strip().startswith("curl ")]
    assert "http://127.0.0.1:9123/v1/chat/completions" in curl
    assert f"Bearer {agent_secret_of(output)}" in curl
    assert "smart-default" in curl


def test_it_can_run_twice_and_replaces_the_demo_keys(db):
    first = run("demo")
    second = run("demo")

    assert key_verify(agent_secret_of(second)).name == "demo key"
    assert refusal(key_verify, agent_secret_of(first)) == (401, "unauthorized", "key_revoked")
    assert refusal(org_key_verify, org_secret_of(first)) == (401, "unauthorized", "key_revoked")
    assert org_key_verify(org_secret_of(second)).role == "admin"


def test_it_reuses_the_demo_objects_on_a_second_run(db):
    run("demo")
    run("demo")

    tenant = Tenant.objects.get(name="Demo")
    assert Tenant.objects.filter(name="Demo").count() == 1
    assert App.objects.filter(tenant=tenant).count() == 1
    assert Agent.objects.filter(tenant=tenant).count() == 1
    assert Provider.objects.filter(tenant=tenant).count() == 1
    assert Alias.objects.filter(tenant=tenant).count() == 1


def test_it_reactivates_a_suspended_demo_agent(db):
    run("demo")
    agent = Agent.objects.get(name="demo-agent")
    agent_update(agent=agent, actor=SYSTEM, data={"status": "suspended"})

    output = run("demo")

    assert key_verify(agent_secret_of(output)).agent_id == agent.id


def test_it_prints_a_console_login_for_the_laptop_demo_only_with_debug_on(db, settings):
    settings.DEBUG = True

    output = run("demo")

    password = re.search(r"user demo-admin\s+password (\S+)", output).group(1)
    assert get_user_model().objects.get(username="demo-admin").check_password(password)


def test_it_prints_no_console_password_with_debug_off(db, settings):
    settings.DEBUG = False

    output = run("demo")

    assert "password" not in output
    assert not get_user_model().objects.filter(username="demo-admin").exists()
