"""Test data built through the real services, so every object is valid and audited as in production.

One place for factories (STYLE rule 8). Each returns the object; functions that issue
secrets return ``(object, secret)``.
"""

from __future__ import annotations

import itertools
from typing import Any

from apps.models import App, Policy
from apps.services import app_create, policy_create
from core.actors import SYSTEM, Actor
from identity.models import Agent
from identity.services import agent_create
from keys.models import Key, OrgKey
from keys.services import key_create, org_key_create
from providers.models import Alias, Provider
from providers.services import alias_create, provider_create
from provisioning.services import membership_create, tenant_create
from tenants.models import Tenant

_counter = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_counter)}"


def make_tenant(name: str | None = None) -> Tenant:
    tenant, _, _ = tenant_create(name=name or unique("tenant-"))
    return tenant


def make_tenant_with_org_key(name: str | None = None, role: str = "admin") -> tuple[Tenant, OrgKey, str]:
    tenant, org_key, secret = tenant_create(name=name or unique("tenant-"))
    if role != "admin":
        org_key, secret = org_key_create(tenant_id=tenant.id, actor=SYSTEM, name="viewer", role=role)
    return tenant, org_key, secret


def make_org_key(tenant: Tenant, role: str = "admin") -> tuple[OrgKey, str]:
    return org_key_create(tenant_id=tenant.id, actor=SYSTEM, name=unique("okey-"), role=role)


def make_app(tenant: Tenant, actor: Actor = SYSTEM, **fields: Any) -> App:
    slug = fields.pop("slug", None) or unique("app-")
    return app_create(tenant_id=tenant.id, actor=actor, name=fields.pop("name", slug), slug=slug, **fields)


def make_agent(tenant: Tenant, actor: Actor = SYSTEM, **fields: Any) -> Agent:
    return agent_create(tenant_id=tenant.id, actor=actor, name=fields.pop("name", unique("agent-")), **fields)


def make_key(agent: Agent, actor: Actor = SYSTEM, **fields: Any) -> tuple[Key, str]:
    return key_create(agent=agent, actor=actor, name=fields.pop("name", unique("key-")), **fields)


def make_provider(tenant: Tenant, actor: Actor = SYSTEM, **fields: Any) -> Provider:
    fields.setdefault("kind", "mock")
    return provider_create(tenant_id=tenant.id, actor=actor, name=fields.pop("name", unique("provider-")), **fields)


def make_alias(tenant: Tenant, targets: list[dict[str, str]], alias: str | None = None) -> Alias:
    return alias_create(tenant_id=tenant.id, actor=SYSTEM, alias=alias or unique("alias-"), targets=targets)


def make_policy(tenant: Tenant, **fields: Any) -> Policy:
    return policy_create(tenant_id=tenant.id, actor=SYSTEM, name=fields.pop("name", unique("policy-")), **fields)


def make_console_user(tenant: Tenant | None, *, email: str | None = None, role: str = "admin", superuser: bool = False):
    """A console user of ``tenant`` (or a platform superuser) with password ``pw``."""
    from django.contrib.auth import get_user_model

    email = email or f"{unique('user')}@example.com"
    if superuser:
        user = get_user_model().objects.create_superuser(username=email, email=email, password="pw")
        return user
    membership = membership_create(tenant=tenant, email=email, actor=SYSTEM, role=role)
    user = membership.user
    user.set_password("pw")
    user.save()
    return user
