"""The sizing table's memory per key (bench/scale_rebuild.py): keys weighed as a worker holds them."""

from __future__ import annotations

from bench.scale_bench import _per_10k_keys_mb
from bench.scale_rebuild import warm_keys_weigh
from tests import factories


def test_it_weighs_each_key_with_its_agent_once_read(db):
    tenant = factories.make_tenant("Sizing Org")
    factories.make_app(tenant, is_default=True)
    for _ in range(5):
        factories.make_key(factories.make_agent(tenant))
    factories.make_key(factories.make_agent(factories.make_tenant("Other Org")))

    weighed = warm_keys_weigh(tenant.id, 4)

    assert (weighed["keys"], weighed["agents"]) == (4, 4)
    assert weighed["bytes"] > 0
    # An entry and an agent entry are a few hundred bytes, never megabytes.
    assert 0.1 < weighed["kb_per_key"] < 50


def test_the_report_scales_the_keys_weighed_to_10000():
    assert _per_10k_keys_mb({"keys": 2000, "bytes": 3 * 2**20}) == 15.0
    assert _per_10k_keys_mb(None) is None
    assert _per_10k_keys_mb({"keys": 0, "bytes": 0}) is None
