"""A real Celery worker (a subprocess) on a real Redis broker builds a report end to end:
``POST /v1/reports`` → queued → built by the worker → a PDF whose text holds the findings.

The worker and this process share the test database; a queue of this run's own keeps
concurrent runs on the same Redis from taking each other's tasks.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from django.utils import timezone

from analytics.models import UsageRollupState
from analytics.tasks import usage_rollup_tenant
from config.celery import app as celery_app
from core.ids import random_base62
from forensics.sealing import audit_seal_all
from tests import factories
from tests.analytics.support import record
from tests.analytics.support_pdf import pdf_text
from tests.api.support import client_for
from tests.support.servers import database_url_of_test_db

BROKER_DB = 13
DEADLINE_SECONDS = 60
CELERY = Path(sys.executable).with_name("celery")


def broker_url() -> str:
    """``REDIS_URL``'s server (or the local one) with a database of its own for the broker."""
    parts = urlsplit(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    return urlunsplit(parts._replace(path=f"/{BROKER_DB}"))


@pytest.fixture(scope="module")
def broker() -> Iterator[str]:
    url = broker_url()
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"the Celery worker test needs Redis at {url} (start redis-server, or set REDIS_URL): {exc}")
    yield url
    client.close()


def _amqp_forget() -> None:
    """Drop the app's cached routing and producers: they hold the queue and broker they saw first."""
    celery_app.__dict__.pop("amqp", None)


@pytest.fixture(scope="module")
def worker(broker, django_db_setup) -> Iterator[str]:
    """A worker process consuming this run's own queue; the app here sends to it through Redis.

    One per module: starting a worker costs seconds. Tests add ``transactional_db`` so that
    what they write is committed, and so visible to the worker.
    """
    queue = f"analytics-test-{random_base62(10)}"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local", DEBUG="true", DATABASE_URL=database_url_of_test_db(),
        CELERY_BROKER_URL=broker, AUDIT_SEAL_IN_PROCESS="false", LOG_LEVEL="WARNING",
    )  # fmt: skip
    process = subprocess.Popen(
        [str(CELERY), "-A", "config", "worker", "-l", "warning", "-P", "solo", "--concurrency", "1", "-Q", queue,
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        env=env, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    saved = {name: celery_app.conf[name] for name in ("task_always_eager", "broker_url", "task_default_queue")}
    celery_app.conf.update(task_always_eager=False, broker_url=broker, task_default_queue=queue)
    _amqp_forget()
    try:
        yield queue
    finally:
        celery_app.conf.update(saved)
        # Pools opened on the broker of this module must not outlive it; close() also drops
        # the app's pool object, so later tests get a fresh one rather than a closed one.
        celery_app.close()
        _amqp_forget()
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        client = redis.Redis.from_url(broker)
        client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
        client.close()


def wait_for(condition, what: str):
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"the worker did not {what} within {DEADLINE_SECONDS}s")


def test_it_builds_a_report_to_a_pdf_in_a_real_worker(worker, transactional_db):
    tenant = factories.make_tenant()
    api = client_for(factories.make_org_key(tenant)[1])
    agent = factories.make_agent(tenant, owner_email="owner@example.com")
    factories.make_key(agent)
    for minute in range(3):
        record(tenant.id, timezone.now() - timedelta(minutes=10 + minute), agent_id=agent.id, user="ann@example.com")
    audit_seal_all()

    response = api.post("/v1/reports", {"framework": "eu_ai_act"}, format="json")
    assert response.status_code == 202, response.content
    report_id = response.json()["id"]
    assert response.json()["status"] == "pending"  # queued, not built in this process

    def ready():
        body = api.get(f"/v1/reports/{report_id}").json()
        assert body["status"] != "failed", body
        return body if body["status"] == "ready" else None

    report = wait_for(ready, "build the report")
    pdf = api.get(f"/v1/reports/{report_id}/download", {"format": "pdf"})

    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")
    text = pdf_text(pdf.content)
    assert len(report["findings"]) == 7
    for finding in report["findings"]:
        assert finding["title"] in text
        assert f"{finding['status'].upper()} {finding['title']} ({finding['control']})" in text
    assert report["findings"][0]["evidence"]["records"] == 3


def test_it_folds_rollups_in_a_real_worker(worker, transactional_db):
    tenant = factories.make_tenant()
    for minute in range(4):
        record(tenant.id, timezone.now() - timedelta(minutes=minute))
    audit_seal_all()

    usage_rollup_tenant.delay(tenant.id)

    def folded():
        return UsageRollupState.objects.filter(tenant_id=tenant.id, through_seq=4).exists()

    assert wait_for(folded, "fold the rollups")
