"""Tenant isolation, fuzzed over every management endpoint the OpenAPI schema lists: one
tenant's org key naming the other tenant's objects — in paths, filters, cursors and bodies —
gets 404 (or its own data), never the other tenant's data, and changes nothing of it.

Endpoints come from ``/api/schema``, so an endpoint added later is covered without a change
here; a path parameter this file does not know fails the test, on purpose."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.services import guardrails_get, jwt_revocation_create
from core.actors import SYSTEM
from core.ids import new_id
from forensics.models import Event, RequestLog
from providers.models import ModelPrice
from proxy.asgi_app import ENDPOINTS
from tests import factories
from tests.api.support import client_for

# The proxy's paths (every dialect's included) are not the management API's.
PROXY_PATHS = re.compile(rf"/v1/({'|'.join(map(re.escape, ENDPOINTS))})$")


@dataclass
class TenantWorld:
    tenant: Any
    api: Any
    ids: dict[str, str]  # kind → id of one object of this tenant
    names: list[str]  # strings that only this tenant's data contains


def tenant_world(label: str) -> TenantWorld:
    tenant = factories.make_tenant(f"Isolation {label}")
    app = factories.make_app(tenant, slug=f"iso-{label}", name=f"app-{label}-secretive")
    guardrails_get(app=app)
    revocation = jwt_revocation_create(app=app, actor=SYSTEM, jti=f"jti-{label}-secretive")
    agent = factories.make_agent(tenant, app=app, name=f"agent-{label}-secretive")
    key, _ = factories.make_key(agent, name=f"key-{label}-secretive")
    provider = factories.make_provider(tenant, name=f"provider-{label}-secretive")
    alias = factories.make_alias(tenant, [{"provider_id": provider.id, "model": "mock-1"}], alias=f"alias-{label}")
    policy = factories.make_policy(tenant, app_ids=[app.id], name=f"policy-{label}-secretive")
    org_key, secret = factories.make_org_key(tenant)
    user = f"person-{label}@{label}-corp.example"
    log = RequestLog.objects.create(
        id=new_id("req"), tenant_id=tenant.id, created_at=datetime.now(UTC), endpoint="chat", status_code=200,
        app_id=app.id, agent_id=agent.id, key_id=key.id, user=user, conversation_id=f"conv-{label}",
        client_request_id=f"client-{label}", model_requested=f"model-{label}",
    )  # fmt: skip
    api = client_for(secret)
    ids = {
        "app": app.id, "agent": agent.id, "key": key.id, "provider": provider.id, "alias": alias.id,
        "policy": policy.id, "org_key": org_key.id, "log": log.id, "user": user, "revocation": revocation.id,
        "price": str(ModelPrice.objects.create(tenant_id=tenant.id, model_pattern=f"model-{label}-*").id),
    }  # fmt: skip
    report = api.post("/v1/reports", {"framework": "soc2"}, format="json")
    if report.status_code in (201, 202):
        ids["report"] = report.json()["id"]
    # Price ids are small integers (prices are not a SPEC object): fuzzed on paths, not scanned for.
    names = [v for k, v in ids.items() if k != "price"]
    names += [f"{label}-secretive", f"conv-{label}", f"client-{label}", f"model-{label}"]
    return TenantWorld(tenant, api, ids, names)


@pytest.fixture
def mine(db):
    return tenant_world("mine")


@pytest.fixture
def theirs(db):
    return tenant_world("theirs")


PARAMETER_KINDS = {
    "app_id": "app", "agent_id": "agent", "key_id": "key", "provider_id": "provider", "alias_id": "alias",
    "policy_id": "policy", "org_key_id": "org_key", "request_id": "log", "report_id": "report", "user": "user",
    "email": "user", "price_id": "price", "revocation_id": "revocation",
}  # fmt: skip
BODIES = {
    "post": {"name": "probe", "framework": "soc2", "alias": "probe", "targets": [], "role": "viewer"},
    "patch": {"description": "probe", "name": "probe"},
    "put": {"pii": "redact"},
}


def operations(api) -> list[tuple[str, str, dict]]:
    schema = json.loads(api.get("/api/schema?format=json").content)
    found = []
    for path, item in schema["paths"].items():
        if not path.startswith("/v1/") or PROXY_PATHS.search(path):
            continue
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                found.append((path, method, operation))
    assert len(found) > 30, "the schema lists fewer management operations than the SPEC has"
    return found


def fill(path: str, ids: dict[str, str]) -> str:
    def one(match: re.Match) -> str:
        name = match[1]
        assert name in PARAMETER_KINDS, f"unknown path parameter {name!r} in {path}: map it to an object kind"
        return ids.get(PARAMETER_KINDS[name], f"{name}_missing000000")

    return re.sub(r"\{([^}]+)\}", one, path)


def call(api, method: str, path: str, body: Any = None, query: dict | None = None):
    send = getattr(api, method)
    if method in ("post", "put", "patch"):
        return send(path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else ""), body, format="json")
    return send(path, query or {})


def leaks(response, other: TenantWorld) -> list[str]:
    raw = b"".join(response.streaming_content) if response.streaming else response.content  # exports stream
    text = raw.decode("utf-8", "replace")
    return [name for name in other.names if name in text]


def events_of(world: TenantWorld) -> int:
    return Event.objects.filter(tenant_id=world.tenant.id).count()


def test_it_answers_404_to_every_operation_naming_another_tenants_object(mine, theirs):
    before = events_of(theirs)
    checked = 0

    for path, method, _ in operations(mine.api):
        if "{" not in path:
            continue
        response = call(mine.api, method, fill(path, theirs.ids), BODIES.get(method))
        checked += 1

        assert response.status_code == 404, (method, path, response.status_code, response.content[:300])
        assert response.json()["error"]["code"] == "not_found"
        assert not leaks(response, theirs), (method, path)

    assert checked > 20
    assert events_of(theirs) == before


def test_it_answers_its_own_objects_on_the_same_paths(mine, theirs):
    """The other side of the coin: the 404s above are about ownership, not broken paths."""
    for path, method, _ in operations(mine.api):
        if "{" not in path or method != "get":
            continue
        response = call(mine.api, method, fill(path, mine.ids))

        assert response.status_code != 404, (path, response.content[:300])
        assert response.status_code < 500, (path, response.content[:300])
        assert not leaks(response, theirs), path


def test_it_never_lists_another_tenants_data(mine, theirs):
    for path, method, _ in operations(mine.api):
        if "{" in path or method != "get":
            continue
        response = call(mine.api, method, path, query={"limit": 100})

        assert response.status_code in (200, 400), (path, response.content[:300])
        assert not leaks(response, theirs), path


QUERY_NAMES = ["app_id", "agent_id", "user", "object_id", "after", "conversation_id", "client_request_id", "model",
               "email_domain", "key_id", "provider_id"]  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_it_never_lets_filters_cursors_or_bodies_reach_another_tenant(mine, theirs, data):
    path, method, _ = data.draw(st.sampled_from(operations(mine.api)), label="operation")
    foreign = st.sampled_from(sorted(theirs.ids.values()))
    query = data.draw(st.dictionaries(st.sampled_from(QUERY_NAMES), foreign, max_size=3), label="query")
    body = None
    if method in ("post", "put", "patch"):
        references = st.dictionaries(
            st.sampled_from(["app_id", "agent_id", "provider_id", "app_ids", "agent_ids", "targets", "object_id"]),
            foreign.flatmap(lambda v: st.sampled_from([v, [v], [{"provider_id": v, "model": "mock-1"}]])),
            min_size=1,
            max_size=3,
        )
        body = {**BODIES[method], **data.draw(references, label="references")}
    before = events_of(theirs)

    response = call(mine.api, method, fill(path, mine.ids), body, query)

    assert response.status_code < 500, (method, path, query, body, response.content[:300])
    assert not leaks(response, theirs), (method, path, query, body)
    assert events_of(theirs) == before
