"""PostgreSQL: Django's side borrows connections from a pool (DATABASE_POOL), and a gateway
that stops gives back the ones its database threads borrowed.

Under ASGI each management request runs on a thread of its own, so only a pool lets a
connection serve more than one request; and a pool that lent connections to threads that
never return them runs dry, after which every request waits out the pool's timeout.
"""

from __future__ import annotations

import time

import httpx
import pytest
from django.db import connections

from tests.support.requirements import needs_postgresql
from tests.support.servers import GatewayServer

pytestmark = [
    needs_postgresql,  # the pool is PostgreSQL's
    pytest.mark.django_db(transaction=True),
]


def _borrowed() -> int:
    stats = connections["default"].pool.get_stats()
    return stats["pool_size"] - stats["pool_available"]


def test_django_reads_through_a_pool_on_postgresql():
    assert connections["default"].pool is not None


def test_a_stopped_gateway_gives_back_the_connections_it_borrowed():
    connections["default"].ensure_connection()
    before = _borrowed()  # this test's own connection
    for _ in range(3):
        server = GatewayServer().start()
        # An unknown key: the gateway's database threads look it up, borrowing connections.
        response = httpx.get(f"{server.url}/v1/models", headers={"X-API-Key": "aid_sk_unknown"}, timeout=10)
        assert response.status_code == 401
        server.stop()
    deadline = time.monotonic() + 10
    while _borrowed() > before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _borrowed() == before
