"""The event trail names each object by its tenant, type and id, taken from the object itself
(``forensics.services.event_record``), and the services record every change through it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.services import guardrails_put
from core.actors import SYSTEM, Actor
from forensics.models import Event
from forensics.services import event_object_type, event_record, update_recorded
from providers.models import Alias, ModelPrice
from providers.services import price_create
from provisioning.services import membership_create, tenant_update
from tests import factories


def last_event() -> Event:
    return Event.objects.order_by("-created_at", "-id").first()


@pytest.mark.parametrize(
    ("model", "object_type"),
    [(ModelPrice, "model_price"), (Alias, "alias"), (Event, "event")],
)
def test_it_names_a_model_by_its_class_in_snake_case(model, object_type):
    assert event_object_type(model) == object_type


def test_it_takes_tenant_type_and_id_from_the_object(tenant):
    agent = factories.make_agent(tenant)
    event_record(agent, actor=SYSTEM, action="agent.touched", changes={"name": {"before": "a", "after": "b"}})
    event = last_event()
    assert (event.tenant_id, event.object_type, event.object_id, event.action) == (
        tenant.id,
        "agent",
        agent.id,
        "agent.touched",
    )
    assert event.changes == {"name": {"before": "a", "after": "b"}}


def test_a_tenant_s_own_event_belongs_to_the_tenant(tenant):
    tenant_update(tenant=tenant, actor=SYSTEM, data={"log_retention_days": 60})
    event = last_event()
    assert (event.tenant_id, event.object_type, event.object_id, event.action) == (
        tenant.id,
        "tenant",
        tenant.id,
        "tenant.updated",
    )


def test_a_membership_is_recorded_as_the_user_it_admits(tenant):
    membership = membership_create(tenant=tenant, email="ann@example.com", actor=SYSTEM)
    event = last_event()
    assert (event.object_type, event.object_id, event.action) == ("user", str(membership.user_id), "member.added")
    assert event.tenant_id == tenant.id


def test_guardrails_are_recorded_by_their_app_s_id(tenant):
    app = factories.make_app(tenant)
    guardrails_put(app=app, actor=Actor("org_key", "okey_1"), data={"pii": "redact"})
    event = last_event()
    assert (event.object_type, event.object_id, event.action) == ("guardrails", app.id, "guardrails.updated")
    assert (event.actor_type, event.actor_id) == ("org_key", "okey_1")


def test_a_price_is_recorded_by_its_numeric_id_as_text(tenant):
    price = price_create(tenant_id=tenant.id, actor=SYSTEM, model_pattern="trail-model*")
    event = last_event()
    assert (event.object_type, event.object_id, event.action) == ("model_price", str(price.pk), "model_price.created")


def test_an_update_records_what_changed_and_nothing_when_nothing_did(tenant):
    price = price_create(tenant_id=tenant.id, actor=SYSTEM, model_pattern="trail-model*")
    before = Event.objects.count()
    data = {"input_per_million_usd": Decimal("1.5")}
    fields = ["input_per_million_usd"]
    update_recorded(price, data, fields=fields, actor=SYSTEM, action="model_price.updated")
    assert last_event().action == "model_price.updated"
    assert last_event().changes["input_per_million_usd"]["after"] == "1.5"
    assert update_recorded(price, data, fields=fields, actor=SYSTEM, action="model_price.updated") == {}
    assert Event.objects.count() == before + 1
