"""Encrypted provider extra headers still reach the upstream in clear, and the migration that
encrypted the stored ones (SPEC 5.5) left no clear value behind, in providers or events."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from core.actors import SYSTEM
from core.crypto import decrypt_secret
from providers.models import Provider
from providers.services import provider_update
from tests import factories
from tests.support.live_fixtures import chat
from tests.support.migrations import migrate_to

HEADER_SECRET = "org-hdr-secret-live-3c9e1a"
BEFORE = [("proxy", "0001_initial"), ("forensics", "0005_drop_duplicate_chain_index")]
AFTER = [("proxy", "0002_provider_extra_headers_encrypted")]


def test_it_sends_the_real_header_value_upstream(world):
    provider = Provider.objects.get(pk=world.provider.pk)
    provider_update(provider=provider, actor=SYSTEM, data={"extra_headers": {"OpenAI-Organization": HEADER_SECRET}})

    with world.http(Authorization=f"Bearer {world.secret}") as client:
        response = client.post("/v1/chat/completions", json=chat())

    assert response.status_code == 200, response.text
    sent = {name.lower(): value for name, value in world.upstream.requests[-1].headers.items()}
    assert sent["openai-organization"] == HEADER_SECRET
    assert HEADER_SECRET not in str(Provider.objects.filter(pk=provider.pk).values_list("extra_headers_encrypted"))


@pytest.mark.django_db(transaction=True)
def test_it_encrypts_stored_values_and_masks_past_events_and_decrypts_them_back():
    apps = migrate_to(BEFORE)
    tenant = factories.make_tenant("Old Org")
    old = apps.get_model("proxy", "Provider").objects.create(
        tenant_id=tenant.id, name="old", kind="openai", extra_headers={"OpenAI-Organization": HEADER_SECRET}
    )
    apps.get_model("forensics", "Event").objects.create(
        tenant_id=tenant.id, actor_type="system", action="provider.created", object_type="provider",
        object_id=old.id, changes={"extra_headers": {"before": None, "after": {"OpenAI-Organization": HEADER_SECRET}}},
    )  # fmt: skip
    try:
        apps = migrate_to(AFTER)
        provider = apps.get_model("proxy", "Provider").objects.get(pk=old.id)
        assert HEADER_SECRET not in str(provider.extra_headers_encrypted)
        assert decrypt_secret(provider.extra_headers_encrypted["OpenAI-Organization"]) == HEADER_SECRET
        event = apps.get_model("forensics", "Event").objects.get(object_id=old.id)
        assert event.changes["extra_headers"] == {"before": None, "after": {"OpenAI-Organization": "***"}}

        apps = migrate_to(BEFORE)
        assert apps.get_model("proxy", "Provider").objects.get(pk=old.id).extra_headers == {
            "OpenAI-Organization": HEADER_SECRET
        }
    finally:
        migrate_to(MigrationExecutor(connection).loader.graph.leaf_nodes())
