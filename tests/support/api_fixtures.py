"""Management API clients for each kind of caller, shared by every test folder that calls the
API (tests/api keeps its own richer variants)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests import factories
from tests.api.support import client_for


@pytest.fixture
def owner_api(tenant) -> APIClient:
    return client_for(factories.make_org_key(tenant, role="admin")[1])


@pytest.fixture
def viewer_api(tenant) -> APIClient:
    return client_for(factories.make_org_key(tenant, role="viewer")[1])


@pytest.fixture
def outsider_api(outsider) -> APIClient:
    return client_for(factories.make_org_key(outsider, role="admin")[1])


@pytest.fixture
def agent_key_api(agent) -> APIClient:
    return client_for(factories.make_key(agent)[1])
