"""Fixtures of the management API tests: one client per kind of caller.

``tenant`` is the owner; ``outsider`` another tenant whose admin must never see the
owner's objects. ``world`` holds one object of every resource of the owner.
"""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.services import guardrails_get, jwt_revocation_create
from core.actors import SYSTEM
from tests import factories
from tests.api.support import client_for


@pytest.fixture
def owner_key(tenant):
    """``(org_key, secret)`` of an admin of the owner tenant."""
    return factories.make_org_key(tenant, role="admin")


@pytest.fixture
def owner_api(owner_key) -> APIClient:
    return client_for(owner_key[1])


@pytest.fixture
def viewer_api(tenant) -> APIClient:
    return client_for(factories.make_org_key(tenant, role="viewer")[1])


@pytest.fixture
def outsider_api(outsider) -> APIClient:
    return client_for(factories.make_org_key(outsider, role="admin")[1])


@pytest.fixture
def anon_api() -> APIClient:
    return APIClient()


@pytest.fixture
def world(tenant) -> dict[str, Any]:
    """One object of every resource of the owner tenant, by name; ``agent_key`` is a secret."""
    app = factories.make_app(tenant)
    guardrails_get(app=app)
    agent = factories.make_agent(tenant, app=app)
    key, agent_secret = factories.make_key(agent)
    provider = factories.make_provider(tenant)
    alias = factories.make_alias(tenant, [{"provider_id": provider.id, "model": "mock-1"}])
    policy = factories.make_policy(tenant, app_ids=[app.id])
    org_key, _ = factories.make_org_key(tenant, role="admin")
    revocation = jwt_revocation_create(app=app, actor=SYSTEM, jti="leaked-token")
    return {
        "app": app.id,
        "agent": agent.id,
        "key": key.id,
        "provider": provider.id,
        "alias": alias.id,
        "policy": policy.id,
        "org_key": org_key.id,
        "jwt_revocation": revocation.id,
        "agent_key": agent_secret,
    }


@pytest.fixture
def agent_key_api(world) -> APIClient:
    """The agent key of ``world``'s agent, which belongs to ``world``'s app."""
    return client_for(world["agent_key"])
