"""Fixtures of the reliability tests: long-lived real processes shared by a module's tests."""

from __future__ import annotations

import pytest

from tests.reliability.support import PrivateRedis, RawUpstream
from tests.support.servers import FakeUpstream, GatewayProcess


@pytest.fixture(scope="module")
def raw_upstream():
    server = RawUpstream().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def healthy_upstream():
    server = FakeUpstream().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway_process(django_db_setup, django_db_blocker):
    """A gateway in its own process on the test database, for every test of a module.

    Tests create their own tenants, so nothing one test configures reaches another.
    """
    gateway = GatewayProcess(redis_url=None).start()
    yield gateway
    gateway.stop()


@pytest.fixture
def private_redis():
    server = PrivateRedis().start()
    yield server
    server.stop()
