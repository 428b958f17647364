"""One gateway and one fake upstream for every test of a module (each test makes its own tenant).

The dialect tests are many and each needs only a fresh tenant, not a fresh gateway: starting
uvicorn once per module keeps them fast.
"""

from __future__ import annotations

import pytest

from tests.support.servers import FakeUpstream, GatewayServer


@pytest.fixture(scope="module")
def gateway():
    server = GatewayServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def upstream():
    server = FakeUpstream().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _fresh_upstream(transactional_db, upstream):
    """Each test scripts the shared upstream from scratch (and gets the database, as ``world`` needs)."""
    upstream.behaviour.clear()
    upstream.requests.clear()
    upstream.stream_disconnected.clear()
