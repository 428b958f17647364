"""Seed the benchmark tenant through the services, with every hot-path feature turned on.

Run with the gateway's environment (same secrets, same database):
``python -m bench.seed_tenant --upstream http://127.0.0.1:18081 --out seed.json``.
Prints nothing secret; the secrets go to ``--out`` (a file under bench/results/, gitignored).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from bench.request_scenarios import ANTHROPIC_MODEL, OPENAI_NATIVE_MODEL, UNSIGNED_MODEL

# Limits high enough never to refuse during the benchmark, yet all enforced (counted in Redis).
LIMITS = {
    "requests_per_minute": 100_000_000,
    "tokens_per_minute": 2_000_000_000,
    "max_concurrent_requests": 100_000,
    "user_requests_per_minute": 100_000_000,
    "daily_token_budget": 10**15,
}
BLOCKED_PATTERN = {"name": "project_zeus", "pattern": r"(?i)project\s+zeus"}


def seed(upstream: str, *, name: str = "bench") -> dict[str, str]:
    """The bench tenant; ``name`` also slugs its app, so that several can be seeded (bench/scale_seed.py)."""
    from apps.services import app_create, guardrails_put, policy_create
    from core.actors import SYSTEM
    from identity.services import agent_create
    from keys.services import key_create
    from providers.services import provider_create
    from provisioning.services import tenant_create

    tenant, _, org_secret = tenant_create(name=name)
    app = app_create(
        tenant_id=tenant.id, actor=SYSTEM, name="Bench app", slug=name, is_default=True, identity_header_mode=True
    )
    guardrails_put(app=app, actor=SYSTEM, data={"blocked_patterns": [BLOCKED_PATTERN], "pii": "redact"})
    agent = agent_create(
        tenant_id=tenant.id, actor=SYSTEM, name="bench-agent", app=app, owner_email="owner@example.com",
        description="The agent behind the benchmark key",
    )  # fmt: skip
    _, agent_secret = key_create(agent=agent, actor=SYSTEM, name="bench key")
    provider = provider_create(
        tenant_id=tenant.id, actor=SYSTEM, name="mock-fast", kind="openai_compatible", base_url=f"{upstream}/v1",
        api_key="mock-upstream-key", models=["gpt-4o-mini", "text-embedding-3-small"], timeout_seconds=30,
    )  # fmt: skip
    slow = provider_create(
        tenant_id=tenant.id, actor=SYSTEM, name="mock-slow", kind="openai_compatible", base_url=f"{upstream}/slow/v1",
        api_key="mock-upstream-key", models=["slow-stream"], timeout_seconds=60,
    )  # fmt: skip
    # The dialects' native routes (bench/request_scenarios.py): the mock answers Anthropic's
    # Messages at {upstream}/v1/messages and the Responses API at {upstream}/v1/responses.
    anthropic = provider_create(
        tenant_id=tenant.id, actor=SYSTEM, name="mock-anthropic", kind="anthropic", base_url=upstream,
        api_key="mock-upstream-key", models=[ANTHROPIC_MODEL], timeout_seconds=30,
    )  # fmt: skip
    openai = provider_create(
        tenant_id=tenant.id, actor=SYSTEM, name="mock-openai", kind="openai", base_url=f"{upstream}/v1",
        api_key="mock-upstream-key", models=[OPENAI_NATIVE_MODEL], timeout_seconds=30,
    )  # fmt: skip
    # chat-unsigned (bench/request_scenarios.py): the same chat without X-Agent-Identity.
    provider_create(
        tenant_id=tenant.id, actor=SYSTEM, name="mock-unsigned", kind="openai_compatible", base_url=f"{upstream}/v1",
        api_key="mock-upstream-key", models=[UNSIGNED_MODEL], timeout_seconds=30, send_agent_identity=False,
    )  # fmt: skip
    policy = policy_create(tenant_id=tenant.id, actor=SYSTEM, name="bench limits", tenant_wide=True, **LIMITS)
    return {
        "tenant_id": tenant.id,
        "app_id": app.id,
        "agent_id": agent.id,
        "provider_id": provider.id,
        "slow_provider_id": slow.id,
        "anthropic_provider_id": anthropic.id,
        "openai_provider_id": openai.id,
        "policy_id": policy.id,
        "agent_key": agent_secret,
        "org_key": org_secret,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="base URL of the mock upstream")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        raise SystemExit("DATABASE_URL must name the benchmark database")
    import django

    django.setup()
    seeded = seed(args.upstream.rstrip("/"))
    args.out.write_text(json.dumps(seeded, indent=2))
    args.out.chmod(0o600)
    print(json.dumps({k: v for k, v in seeded.items() if not k.endswith("_key")}))


if __name__ == "__main__":
    main()
