"""Prefixed opaque ids (SPEC section 1): prefix plus at least 12 random [A-Za-z0-9]."""

from __future__ import annotations

import collections
import re

from core.actors import SYSTEM
from core.ids import BASE62, new_id, random_base62
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


def test_it_draws_random_base62_text_of_the_asked_length_evenly():
    """Secrets and answer ids: every character of the alphabet, each about as often (a chi-square
    test at a 1-in-a-million false alarm), from the operating system's generator."""
    draws = [random_base62(24) for _ in range(20_000)]
    assert {len(text) for text in draws} == {24}
    counts = collections.Counter("".join(draws))
    assert set(counts) == set(BASE62)
    expected = 24 * 20_000 / 62
    chi_square = sum((counts[char] - expected) ** 2 / expected for char in BASE62)
    assert chi_square < 130  # 61 degrees of freedom: P(chi2 > 130) < 1e-6
    assert len(set(draws)) == len(draws)
    assert len(random_base62(1)) == 1
    assert random_base62(0) == ""
