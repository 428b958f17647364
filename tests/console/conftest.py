"""Console fixtures: an owner tenant and an outsider tenant, each with one object of every
kind, and a console user for every role (owner admin, viewer member, outsider admin, superuser)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.contrib.admin.utils import quote
from django.db import models
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.models import App, Policy
from core.ids import new_id
from forensics.models import Event, RequestLog
from identity.models import Agent
from keys.models import Key, OrgKey
from providers.models import Alias, Provider
from tenants.models import Tenant
from tests import factories

UPSTREAM_API_KEY = "sk-upstream-do-not-leak-0123456789"


@dataclass
class World:
    """One object of every console-managed kind, all in one tenant."""

    tenant: Tenant
    app: App
    agent: Agent
    key: Key
    key_secret: str
    policy: Policy
    provider: Provider
    alias: Alias
    org_key: OrgKey
    request_log: RequestLog
    event: Event


def make_request_log(tenant: Tenant, agent: Agent | None = None, **fields) -> RequestLog:
    """A forensic record as the proxy writes it (the proxy has no service to call here)."""
    defaults = {
        "id": new_id("req"),
        "tenant_id": tenant.id,
        "created_at": timezone.now(),
        "endpoint": "chat",
        "status_code": 200,
        "agent_id": agent.id if agent else None,
        "user": "alice@example.com",
        "model_requested": "mock-small",
        "prompt_tokens": 3,
        "completion_tokens": 5,
    }
    return RequestLog.objects.create(**(defaults | fields))


def build_world(tenant: Tenant) -> World:
    app = factories.make_app(tenant)
    agent = factories.make_agent(tenant, app=app)
    key, key_secret = factories.make_key(agent)
    provider = factories.make_provider(tenant, api_key=UPSTREAM_API_KEY)
    alias = factories.make_alias(tenant, targets=[{"provider_id": provider.id, "model": "mock-small"}])
    policy = factories.make_policy(tenant, app_ids=[app.id], agent_ids=[agent.id], requests_per_minute=60)
    org_key, _ = factories.make_org_key(tenant)
    return World(
        tenant=tenant, app=app, agent=agent, key=key, key_secret=key_secret, policy=policy, provider=provider,
        alias=alias, org_key=org_key, request_log=make_request_log(tenant, agent),
        event=Event.objects.get(tenant_id=tenant.id, action="agent.created", object_id=agent.id),
    )  # fmt: skip


def admin_url(target: models.Model | type[models.Model], view: str = "change") -> str:
    """The console URL of an object (change, delete, history) or a model (changelist, add)."""
    opts = target._meta
    name = f"admin:{opts.app_label}_{opts.model_name}_{view}"
    if isinstance(target, models.Model):
        return reverse(name, args=[quote(target.pk)])
    return reverse(name)


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def owned(tenant) -> World:
    return build_world(tenant)


@pytest.fixture
def foreign(outsider) -> World:
    return build_world(outsider)


@pytest.fixture
def owner(tenant):
    return factories.make_console_user(tenant, role="admin")


@pytest.fixture
def member(tenant):
    """A viewer of the owner's tenant: may look, never write."""
    return factories.make_console_user(tenant, role="viewer")


@pytest.fixture
def stranger(outsider):
    """An admin of the outsider tenant: full rights there, none in the owner's tenant."""
    return factories.make_console_user(outsider, role="admin")


@pytest.fixture
def superuser(db):
    return factories.make_console_user(None, superuser=True)


@pytest.fixture
def owner_client(owner) -> Client:
    return logged_in(owner)


@pytest.fixture
def member_client(member) -> Client:
    return logged_in(member)


@pytest.fixture
def stranger_client(stranger) -> Client:
    return logged_in(stranger)


@pytest.fixture
def superuser_client(superuser) -> Client:
    return logged_in(superuser)
