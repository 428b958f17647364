"""``make screenshots``: PNGs of the console (dashboard, its latency chart and limit bars, the
log browser, the playground, a log record) for docs/img/.

Seeds a throwaway SQLite database with a demo tenant, a week of synthetic history (written,
sealed and rolled up by ``provisioning.demo_history``, as ``manage.py demo --history``
does), a policy with budgets, and a few real requests through the gateway, then drives
Debian's chromium against the live gateway, as the browser tests do.
Usage: ``python -m tests.support.console_screenshots [OUTPUT_DIR]`` (default docs/img).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
USERS = ["alice@acme.example", "bob@acme.example", "chen@acme.example", "dana@acme.example", "eve@acme.example"]
VIEWPORT = {"width": 1440, "height": 1000}


def _environment(database: Path) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings.local", DEBUG="true", DATABASE_URL=f"sqlite:///{database}",
        LOG_LEVEL="WARNING", AUDIT_SEAL_INTERVAL_SECONDS="0.5",
    )  # fmt: skip
    os.environ.pop("REDIS_URL", None)
    os.environ.pop("CELERY_BROKER_URL", None)


def _seed() -> dict:
    from apps.services import app_create, policy_create
    from core.actors import SYSTEM
    from identity.services import agent_create
    from keys.services import key_create
    from providers.services import alias_create, price_create, provider_create
    from provisioning.services import membership_create, tenant_create

    tenant, _, _ = tenant_create(name="Acme Health")
    app = app_create(tenant_id=tenant.id, actor=SYSTEM, name="Patient assistant", slug="assistant", is_default=True,
                     identity_header_mode=True, capture_bodies=True)  # fmt: skip
    agents = [
        agent_create(tenant_id=tenant.id, actor=SYSTEM, name=name, app=app, owner_email="owner@acme.example")
        for name in ("support-bot", "triage-agent", "summarizer")
    ]
    provider = provider_create(tenant_id=tenant.id, actor=SYSTEM, name="mock", kind="mock", models=["mock-*"])
    alias_create(tenant_id=tenant.id, actor=SYSTEM, alias="smart-default",
                 targets=[{"provider_id": provider.id, "model": "mock-1"}])  # fmt: skip
    alias_create(tenant_id=tenant.id, actor=SYSTEM, alias="fast", targets=[{"provider_id": provider.id,
                                                                             "model": "mock-mini"}])  # fmt: skip
    price_create(tenant_id=tenant.id, actor=SYSTEM, model_pattern="mock-*", input_per_million_usd=Decimal("2.5"),
                 output_per_million_usd=Decimal("10"))  # fmt: skip
    created = [key_create(agent=agent, actor=SYSTEM, name="demo") for agent in agents]
    policy = policy_create(
        tenant_id=tenant.id, actor=SYSTEM, name="Acme limits", tenant_wide=True, requests_per_minute=300,
        daily_token_budget=1_500_000, user_daily_token_budget=250_000,
    )  # fmt: skip
    admin = membership_create(tenant=tenant, email="admin@acme.example", actor=SYSTEM, role="admin").user
    admin.set_password("pw")
    admin.save()
    return {
        "tenant": tenant, "app": app, "agents": agents, "keys": [secret for _, secret in created],
        "key_objects": [key for key, _ in created], "provider": provider, "policy": policy, "admin": admin,
    }  # fmt: skip


def _history(world: dict) -> None:
    """A week of plausible traffic per agent, through the record writer's insert and the sealer."""
    from django.utils import timezone

    from provisioning.demo_history import demo_history_create

    for seed, (agent, key) in enumerate(zip(world["agents"], world["key_objects"], strict=True), start=7):
        demo_history_create(
            tenant_id=world["tenant"].id, app_id=world["app"].id, agent_id=agent.id, key_id=key.id,
            provider_id=world["provider"].id, policy_ids=[world["policy"].id], now=timezone.now(), seed=seed,
        )  # fmt: skip


def _live_traffic(url: str, world: dict) -> None:
    import httpx

    with httpx.Client(base_url=url, timeout=10) as http:
        for i in range(12):
            http.post(
                "/v1/chat/completions",
                headers={"Authorization": f"Bearer {world['keys'][i % 3]}", "X-User-Email": USERS[i % 5],
                         "X-Conversation-Id": f"live-{i % 4}"},
                json={"model": "smart-default", "messages": [{"role": "user", "content": f"Question {i}"}]},
            )  # fmt: skip


def _shoot(url: str, world: dict, out: Path) -> list[Path]:
    from tests.support.browser import chromium, console_login

    shots = []
    with chromium() as browser:
        context = browser.new_context(base_url=url, viewport=VIEWPORT, device_scale_factor=1, color_scheme="light")
        page = context.new_page()
        console_login(page, url, world["admin"].username)
        page.goto("/admin/console/?period=7d")
        shots.append(out / "console-dashboard.png")
        page.screenshot(path=str(shots[-1]), full_page=True)
        page.locator("#chart-latency").scroll_into_view_if_needed()
        shots.append(out / "console-latency.png")
        page.locator("#chart-latency").screenshot(path=str(shots[-1]))
        shots.append(out / "console-limits.png")
        page.locator("#limits").screenshot(path=str(shots[-1]))

        page.goto("/admin/console/logs/?status=errors")
        shots.append(out / "console-log-browser.png")
        page.screenshot(path=str(shots[-1]))

        page.goto("/admin/console/playground/")
        page.select_option("#pg-agent", world["agents"][0].id)
        for prompt in ("Which clinics are open on Saturday?", "And the one closest to the station?"):
            page.fill("#pg-prompt", prompt)
            page.click("#pg-send")
            page.wait_for_selector(f".playground-turn.assistant[data-done=true] >> text={prompt[:20]}")
        shots.append(out / "console-playground.png")
        page.screenshot(path=str(shots[-1]), full_page=True)

        page.click("#pg-request-link")
        page.wait_for_selector("#record-fields")
        page.wait_for_timeout(1500)  # let the in-process sealer seal it
        page.reload()
        shots.append(out / "console-log-record.png")
        page.screenshot(path=str(shots[-1]), full_page=True)
        context.close()
    return shots


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else ROOT / "docs" / "img"
    workdir = Path(tempfile.mkdtemp(prefix="aidgate-screenshots-"))
    try:
        _environment(workdir / "db.sqlite3")
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from django.core.management import call_command

        from tests.support.browser import browser_missing
        from tests.support.servers import GatewayServer

        if reason := browser_missing():
            print(f"screenshots need a browser: {reason}", file=sys.stderr)
            return 1
        call_command("migrate", verbosity=0)
        world = _seed()
        _history(world)
        gateway = GatewayServer().start()
        try:
            _live_traffic(gateway.url, world)
            out.mkdir(parents=True, exist_ok=True)
            for shot in _shoot(gateway.url, world, out):
                print(f"saved {shot.relative_to(ROOT) if shot.is_relative_to(ROOT) else shot}")
        finally:
            gateway.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
