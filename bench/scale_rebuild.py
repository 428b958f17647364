"""How long one snapshot load of a tenant takes, and what the snapshot weighs, off the gateway.

Run with the gateway's environment: ``python -m bench.scale_rebuild --tenant ID --repeats N``.
Prints JSON: each load's seconds (the first one cold) and the snapshot's Python allocations
(tracemalloc, the load's own temporaries freed), and the same for a key entry's load; with
``--warm-keys N``, what N of the tenant's keys and their agents weigh once read, held as the
gateway's configuration cache holds them (the sizing table of docs/deployment.md).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import time
import tracemalloc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenant", action="append", required=True, help="tenant id (repeatable)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--agent", action="append", default=[], help="tenant_id:agent_id, timed as a first use")
    parser.add_argument("--warm-keys", type=int, default=0, help="keys of the first tenant read and weighed")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        raise SystemExit("DATABASE_URL must name the benchmark database")
    import django

    django.setup()
    from proxy.config_loading import agent_entry_load, tenant_config_load

    result = {}
    for tenant_id in args.tenant:
        seconds = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            tenant_config_load(tenant_id, 0)
            seconds.append(round(time.perf_counter() - started, 3))
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        config = tenant_config_load(tenant_id, 0)
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        result[tenant_id] = {
            "load_seconds": seconds,
            "snapshot_mb": round(retained / 2**20, 2),
            "agents": len(config.agents),
            "policies": len(config.policies),
        }
    for ref in args.agent:
        tenant_id, agent_id = ref.split(":", 1)
        seconds = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            entry = agent_entry_load(tenant_id, agent_id)
            seconds.append(round(time.perf_counter() - started, 4))
        result.setdefault(tenant_id, {})["agent_load_seconds"] = seconds
        result[tenant_id]["agent_policies"] = len(entry.policy_ids) if entry else None
    if args.warm_keys:
        result[args.tenant[0]]["warm_keys"] = warm_keys_weigh(args.tenant[0], args.warm_keys)
    print(json.dumps(result))


def warm_keys_weigh(tenant_id: str, count: int) -> dict:
    """Bytes a key costs a worker once used: its entry under its digest, the tenant's set of
    digests, and its agent's entry in the snapshot (``ConfigCache.key`` and ``.agent``)."""
    from keys.models import Key
    from proxy.config_loading import agent_entry_load, key_entry_load, tenant_config_load

    digests = list(Key.objects.filter(tenant_id=tenant_id).values_list("digest", flat=True)[:count])
    config = tenant_config_load(tenant_id, 0)
    keys: dict = {}
    tenant_keys: set = set()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    for digest in digests:
        entry = key_entry_load(digest)
        keys[digest] = (entry, config)
        tenant_keys.add(digest)
        if entry.agent_id not in config.agents:
            config.agents[entry.agent_id] = agent_entry_load(tenant_id, entry.agent_id)
    seconds = time.perf_counter() - started
    gc.collect()
    retained = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return {
        "keys": len(keys),
        "agents": len(config.agents),
        "bytes": retained,
        "mb": round(retained / 2**20, 2),
        "kb_per_key": round(retained / 1024 / max(1, len(keys)), 2),
        "load_seconds": round(seconds, 1),
    }


if __name__ == "__main__":
    main()
