from __future__ import annotations

from tests import factories


def test_it_builds_a_tenant_with_an_agent_and_key(agent):
    key, secret = factories.make_key(agent)
    assert secret.startswith("aid_sk_")
    assert key.tenant_id == agent.tenant_id
