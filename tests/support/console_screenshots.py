"""``make screenshots``: PNGs of the console (dashboard, playground, a log record) for docs/img/.

Seeds a throwaway SQLite database with a demo tenant, a week of synthetic history (rows
written straight into the record table, so the charts have a shape) and a few real requests
through the gateway, then drives Debian's chromium against the live gateway, as the browser
tests do. Usage: ``python -m tests.support.console_screenshots [OUTPUT_DIR]`` (default docs/img).
"""

from __future__ import annotations

import os
import random
import shutil
import sys
import tempfile
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
USERS = ["alice@acme.example", "bob@acme.example", "chen@acme.example", "dana@acme.example", "eve@acme.example"]
MODELS = [("smart-default", 6), ("fast", 3), ("mock-large", 1)]
REFUSALS = [
    (429, "rate_limited", "requests_per_minute"), (403, "forbidden", "model_not_allowed"),
    (400, "guardrail_violation", "pii_detected"), (502, "upstream_error", "upstream_status"),
]  # fmt: skip
VIEWPORT = {"width": 1440, "height": 1000}


def _environment(database: Path) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings.local", DEBUG="true", DATABASE_URL=f"sqlite:///{database}",
        LOG_LEVEL="WARNING", AUDIT_SEAL_INTERVAL_SECONDS="0.5",
    )  # fmt: skip
    os.environ.pop("REDIS_URL", None)
    os.environ.pop("CELERY_BROKER_URL", None)


def _seed() -> dict:
    from apps.services import app_create
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
    keys = [key_create(agent=agent, actor=SYSTEM, name="demo")[1] for agent in agents]
    admin = membership_create(tenant=tenant, email="admin@acme.example", actor=SYSTEM, role="admin").user
    admin.set_password("pw")
    admin.save()
    return {"tenant": tenant, "app": app, "agents": agents, "keys": keys, "admin": admin}


def _history(world: dict, days: int = 7) -> None:
    """A week of plausible traffic: busier in working hours, a few refusals and failures."""
    from django.utils import timezone

    from core.ids import new_id
    from forensics.models import RequestLog

    rng = random.Random(7)
    now = timezone.now()
    rows = []
    for hours_ago in range(days * 24, 0, -1):
        moment = now - timedelta(hours=hours_ago)
        busy = 9 <= moment.hour <= 18
        for _ in range(rng.randint(6, 22) if busy else rng.randint(0, 5)):
            status, code, reason = (200, None, None)
            if rng.random() < 0.07:
                status, code, reason = rng.choice(REFUSALS)
            model = rng.choices([m for m, _ in MODELS], weights=[w for _, w in MODELS])[0]
            prompt, completion = (rng.randint(40, 900), rng.randint(20, 600)) if status == 200 else (0, 0)
            user = rng.choice(USERS)
            rows.append(RequestLog(
                id=new_id("req"), tenant_id=world["tenant"].id, app_id=world["app"].id,
                created_at=moment + timedelta(seconds=rng.randint(0, 3599)),
                agent_id=rng.choice(world["agents"]).id, credential="key", user=user, identity_source="header",
                conversation_id=f"{user.split('@')[0]}-{moment:%m%d}-{rng.randint(1, 3)}", endpoint="chat",
                model_requested=model, model_resolved="mock-1" if model == "smart-default" else "mock-mini",
                status_code=status, error_code=code, error_reason=reason, prompt_tokens=prompt,
                completion_tokens=completion,
                cost_usd=(Decimal(prompt) * Decimal("2.5") + Decimal(completion) * 10) / 1_000_000,
                latency_ms=rng.lognormvariate(5.5, 0.5), stream=rng.random() < 0.5,
            ))  # fmt: skip
    RequestLog.objects.bulk_create(rows, batch_size=500)


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
