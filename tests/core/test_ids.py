"""Prefixed opaque ids (SPEC section 1): prefix plus at least 12 random [A-Za-z0-9]."""

from __future__ import annotations

import re

from core.actors import SYSTEM
from core.ids import new_id
from keys.services import org_key_create
from tests import factories


def id_matches(prefix: str, value: str) -> bool:
    return re.fullmatch(rf"{prefix}_[A-Za-z0-9]{{12,}}", value) is not None


def test_it_prefixes_every_object_id_with_its_type(tenant):
    app = factories.make_app(tenant)
    agent = factories.make_agent(tenant, app=app)
    key, _ = factories.make_key(agent)
    org_key, _ = org_key_create(tenant_id=tenant.id, actor=SYSTEM)
    provider = factories.make_provider(tenant)
    alias = factories.make_alias(tenant, [{"provider_id": provider.id, "model": "mock-1"}])
    policy = factories.make_policy(tenant)

    ids = {
        "tn": tenant.id, "app": app.id, "ag": agent.id, "key": key.id, "okey": org_key.id,
        "prv": provider.id, "als": alias.id, "pol": policy.id,
    }  # fmt: skip
    assert {prefix: id_matches(prefix, value) for prefix, value in ids.items()} == dict.fromkeys(ids, True)


def test_it_makes_ids_that_do_not_repeat():
    ids = {new_id("ag") for _ in range(1000)}

    assert len(ids) == 1000
    assert all(id_matches("ag", value) for value in ids)
