"""Fixtures of the ``aidgate`` command's tests: one real gateway process for the whole folder,
and a tenant of its own for each test, driven through the installed command as a user runs it."""

from __future__ import annotations

import pytest

from tests import factories
from tests.cli.support import Tenant
from tests.support.servers import GatewayProcess


@pytest.fixture(scope="package")
def gateway_process(django_db_setup, django_db_blocker):
    """A gateway in its own process on the test database; starting one costs seconds, so the
    folder shares it and each test makes its own tenant."""
    gateway = GatewayProcess(redis_url=None).start()
    yield gateway
    gateway.stop()


@pytest.fixture
def org(transactional_db, gateway_process, tmp_path) -> Tenant:
    """A tenant with an admin and a viewer org key, and a working directory of its own; what
    the test writes is committed, so the gateway process sees it."""
    tenant, _, admin_secret = factories.make_tenant_with_org_key()
    _, viewer_secret = factories.make_org_key(tenant, role="viewer")
    return Tenant(tenant, admin_secret, viewer_secret, gateway_process.url, tmp_path)
