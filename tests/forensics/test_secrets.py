"""No secret in the evidence (SPEC 6): requests are driven with every kind of secret
(agent keys, org keys, a provider API key, JWTs, valid or not), then every record, export,
log API answer and event is scanned for them."""

from __future__ import annotations

import json
import time

import httpx
from django.core.serializers.json import DjangoJSONEncoder

from apps.services import app_update
from core.actors import SYSTEM
from forensics.models import Event, RequestLog
from forensics.sealing import audit_seal_all
from keys.services import key_revoke
from tests import factories
from tests.api.support import client_for
from tests.forensics.support import leaks
from tests.support.live_fixtures import UPSTREAM_SECRET, chat

PROVIDER_SECRET = "sk-live-provider-key-for-the-scan-0123456789"


def dumped(rows) -> str:
    return json.dumps(list(rows), cls=DjangoJSONEncoder, ensure_ascii=False)


def test_no_secret_reaches_any_record_export_log_answer_or_event(server_sessions_ended, jwt_world):
    world = jwt_world.world
    app_update(app=world.app, actor=SYSTEM, data={"capture_bodies": True, "identity_header_mode": True})
    _, admin_secret = factories.make_org_key(world.tenant, role="admin")
    api = client_for(admin_secret)
    # Secrets created through the API leave events behind: those are scanned too.
    org_secret = api.post("/v1/org-keys", {"name": "ci", "role": "viewer"}, format="json").json()["key"]
    api_key_secret = api.post(f"/v1/agents/{world.agent.id}/keys", {"name": "k2"}, format="json").json()["key"]
    api.post("/v1/providers", {"name": "p2", "kind": "openai", "api_key": PROVIDER_SECRET}, format="json")
    revoked, revoked_secret = factories.make_key(world.agent)
    key_revoke(key=revoked, actor=SYSTEM)
    token = jwt_world.token(email="dana@example.com")
    expired = jwt_world.token(exp=int(time.time()) - 600)
    secrets = {
        "agent key": world.secret, "agent key made by the API": api_key_secret, "revoked agent key": revoked_secret,
        "admin org key": admin_secret, "viewer org key": org_secret, "provider key": UPSTREAM_SECRET,
        "second provider key": PROVIDER_SECRET, "jwt": token, "expired jwt": expired,
    }  # fmt: skip

    proxy = world.http(**{"X-User-Email": "eve@example.com"})
    statuses = [
        proxy.post("/v1/chat/completions", json=chat(), headers={"Authorization": f"Bearer {world.secret}"}),
        proxy.post("/v1/chat/completions", json=chat(stream=True), headers={"X-API-Key": world.secret}),
        proxy.post("/v1/embeddings", json={"model": "text-embedding-3-small", "input": "x"},
                   headers={"X-API-Key": api_key_secret}),
        proxy.post(f"/apps/{world.app.slug}/v1/chat/completions", json=chat(), headers={"X-API-Key": revoked_secret}),
        proxy.post("/v1/chat/completions", json=chat(), headers={"X-API-Key": org_secret}),
        jwt_world.call(token),
        jwt_world.call(expired),
    ]  # fmt: skip
    assert [r.status_code for r in statuses] == [200, 200, 200, 401, 403, 200, 401]
    assert audit_seal_all() == 6  # the org key on the proxy names no tenant: no record

    records = RequestLog.objects.filter(tenant_id=world.tenant.id)
    assert records.filter(credential="jwt").exists()
    assert records.exclude(request_body=None).exists()  # captured bodies are scanned too
    evidence = {
        "records": dumped(records.values()),
        "events": dumped(Event.objects.values()),
        "log list": api.get("/v1/logs?limit=100").content.decode(),
        "log details": "".join(api.get(f"/v1/logs/{r.id}").content.decode() for r in records),
        "agent logs": api.get(f"/v1/agents/{world.agent.id}/logs").content.decode(),
        "events api": api.get("/v1/events?limit=100").content.decode(),
        "jsonl export": b"".join(api.get("/v1/logs/export").streaming_content).decode(),
        "csv export": b"".join(api.get("/v1/logs/export?format=csv").streaming_content).decode(),
        "verify": api.get("/v1/audit/verify").content.decode(),
    }
    with httpx.Client(base_url=world.gateway.url, headers={"Authorization": f"Bearer {admin_secret}"}) as live:
        evidence["live jsonl export"] = live.get("/v1/logs/export").text
        evidence["live log list"] = live.get("/v1/logs").text

    assert all(world.tenant.id in text for name, text in evidence.items() if "export" in name or name == "records")
    found = {name: leaks(text, secrets) for name, text in evidence.items()}
    assert found == {name: [] for name in evidence}
