"""Seed the scale benchmark: a big tenant and thousands of small ones, in bulk.

The big tenant is the bench tenant of ``bench/seed_tenant.py`` (every hot-path feature on, so
that its requests do the same work as the small tenant's) plus ``--agents`` agents, one key
each, and policies up to ``--policies``, each bound to a slice of the agents. The other
tenants are what most tenants look like: a default app, one agent with one key, one provider.
Rows go in with ``bulk_create`` (one INSERT per few thousand rows, no signals): seeding
through the services would take hours at this size, and no gateway has these tenants cached
yet, so there is nothing to invalidate but the big tenant's, which is bumped at the end.

Run with the gateway's environment: ``python -m bench.scale_seed --upstream URL --tenants N
--agents N --policies N --out F``. Secrets go to ``--out`` (under the run directory, 0600).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.seed_tenant import LIMITS, seed

BATCH = 5000
# Agents per agent-bound policy: 1,000 policies over 100,000 agents binds each agent once.
AGENTS_PER_POLICY = 100
# How many of the big tenant's extra keys are written out (for the load and the warm-up).
SAMPLE_KEYS = 200
# A small tenant's rows, in the order they are inserted (each refers to the ones before).
MODELS = ("tenants", "apps", "agents", "keys", "providers")


def big_tenant_grow(seeded: dict[str, str], *, agents: int, policies: int) -> dict[str, Any]:
    """Add ``agents`` agents with a key each and policies up to ``policies`` to the seeded tenant."""
    from django.db import transaction
    from django.db.models import F
    from django.utils import timezone

    from apps.models import Policy
    from identity.models import Agent
    from keys.models import Key
    from keys.secrets import AGENT_KEY_PREFIX, secret_digest, secret_display_prefix, secret_generate
    from proxy.config_generation import config_generation_bump
    from tenants.models import Tenant

    tenant_id, app_id = seeded["tenant_id"], seeded["app_id"]
    expires = timezone.now() + timedelta(days=365)
    started = time.perf_counter()
    agent_ids: list[str] = []
    sample: list[dict[str, str]] = []
    with transaction.atomic():
        for first in range(0, agents, BATCH):
            batch_agents, batch_keys = [], []
            for n in range(first, min(agents, first + BATCH)):
                agent = Agent(
                    tenant_id=tenant_id, app_id=app_id, name=f"scale-agent-{n}", owner_email="owner@example.com",
                    fingerprint=secrets.token_hex(32),
                    # One agent in ten narrows its models, as a real fleet's would.
                    allowed_models=["gpt-4o-mini"] if n % 10 == 0 else None,
                )  # fmt: skip
                secret = secret_generate(AGENT_KEY_PREFIX)
                batch_agents.append(agent)
                key = Key(
                    tenant_id=tenant_id, agent=agent, name=f"scale-key-{n}",
                    expires_at=expires, digest=secret_digest(secret), prefix=secret_display_prefix(secret),
                )  # fmt: skip
                batch_keys.append(key)
                if len(sample) < SAMPLE_KEYS:
                    sample.append({"agent_id": agent.id, "key": secret})
            Agent.objects.bulk_create(batch_agents, batch_size=BATCH)
            Key.objects.bulk_create(batch_keys, batch_size=BATCH)
            agent_ids.extend(a.id for a in batch_agents)
        existing = Policy.objects.filter(tenant_id=tenant_id).count()
        new_policies = [
            Policy(tenant_id=tenant_id, name=f"scale-policy-{n}", tenant_wide=False, **LIMITS)
            for n in range(max(0, policies - existing))
        ]
        Policy.objects.bulk_create(new_policies, batch_size=BATCH)
        through = Policy.agents.through
        links = []
        for index, policy in enumerate(new_policies):
            start = (index * AGENTS_PER_POLICY) % max(1, len(agent_ids))
            for agent_id in agent_ids[start : start + AGENTS_PER_POLICY]:
                links.append(through(policy_id=policy.id, agent_id=agent_id))
        through.objects.bulk_create(links, batch_size=BATCH)
        Tenant.objects.filter(pk=tenant_id).update(config_version=F("config_version") + 1)
    config_generation_bump(tenant_id)
    return {
        "agents": agents + 1,
        "keys": agents + 1,
        "policies": existing + len(new_policies),
        "policy_agent_links": len(links),
        "seconds": round(time.perf_counter() - started, 1),
        "sample_keys": sample,
    }


def small_tenants_create(count: int, template_provider_id: str) -> dict[str, Any]:
    """``count`` tenants of one default app, one agent, one key and one provider each."""
    from django.db import transaction
    from django.utils import timezone

    from apps.models import App
    from identity.models import Agent
    from keys.models import Key
    from keys.secrets import AGENT_KEY_PREFIX, secret_digest, secret_display_prefix, secret_generate
    from providers.models import Provider
    from tenants.models import Tenant

    template = Provider.objects.get(pk=template_provider_id)
    expires = timezone.now() + timedelta(days=365)
    keys: list[str] = []
    started = time.perf_counter()
    for first in range(0, count, BATCH):
        rows: dict[str, list] = {name: [] for name in MODELS}
        for n in range(first, min(count, first + BATCH)):
            tenant = Tenant(name=f"scale-{n:05d}")
            app = App(tenant=tenant, name="Default", slug=f"scale-{n:05d}", is_default=True)
            agent = Agent(tenant=tenant, app=app, name="agent", fingerprint=secrets.token_hex(32))
            secret = secret_generate(AGENT_KEY_PREFIX)
            key = Key(
                tenant=tenant, agent=agent, name="key", expires_at=expires,
                digest=secret_digest(secret), prefix=secret_display_prefix(secret),
            )  # fmt: skip
            provider = Provider(
                tenant=tenant, name="upstream", kind=template.kind, base_url=template.base_url,
                api_key_encrypted=template.api_key_encrypted, extra_headers_encrypted=template.extra_headers_encrypted,
                models=template.models, timeout_seconds=template.timeout_seconds,
            )  # fmt: skip
            for name, obj in zip(MODELS, (tenant, app, agent, key, provider), strict=True):
                rows[name].append(obj)
            keys.append(secret)
        with transaction.atomic():
            for model, name in zip((Tenant, App, Agent, Key, Provider), MODELS, strict=True):
                model.objects.bulk_create(rows[name], batch_size=BATCH)
    return {"tenants": count, "seconds": round(time.perf_counter() - started, 1), "keys": keys}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="base URL of the mock upstream")
    parser.add_argument("--small-seed", required=True, type=Path, help="seed.json of the small bench tenant")
    parser.add_argument("--tenants", type=int, required=True, help="tenants in all, the two bench tenants included")
    parser.add_argument("--agents", type=int, required=True)
    parser.add_argument("--policies", type=int, required=True)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        raise SystemExit("DATABASE_URL must name the benchmark database")
    import django

    django.setup()
    small = json.loads(args.small_seed.read_text())
    big = seed(args.upstream.rstrip("/"), name="bench-big")
    grown = big_tenant_grow(big, agents=args.agents, policies=args.policies)
    others = small_tenants_create(max(0, args.tenants - 2), small["provider_id"])
    result = {"big": big, "big_grown": grown, "small_tenants": others}
    args.out.write_text(json.dumps(result))
    args.out.chmod(0o600)
    print(
        json.dumps(
            {
                "big_tenant": big["tenant_id"],
                **{k: v for k, v in grown.items() if k != "sample_keys"},
                "small_tenants": others["tenants"],
                "small_tenants_seconds": others["seconds"],
            }
        )
    )


if __name__ == "__main__":
    main()
