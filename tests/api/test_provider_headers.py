"""Provider extra headers (SPEC 5.5): values are write-only like ``api_key`` — stored encrypted,
read back as ``"***"`` by every reader, never in events; ``"***"`` sent back keeps a value."""

from __future__ import annotations

import pytest
from django.db import connection

from core.crypto import decrypt_secret
from forensics.models import Event
from providers.models import Provider
from tests import factories
from tests.api.support import assert_error

HEADER_SECRET = "org-hdr-secret-5f2b9c0d"
OTHER_SECRET = "org-hdr-secret-second-77aa"


def create(api, **headers: str):
    body = {"name": "upstream", "kind": "openai", "extra_headers": {"OpenAI-Organization": HEADER_SECRET, **headers}}
    return api.post("/v1/providers", body, format="json")


def stored(provider_id: str) -> dict[str, str]:
    return Provider.objects.get(pk=provider_id).extra_headers_decrypted()


def column_text(provider_id: str) -> str:
    """The column as the database holds it, read without the model."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT extra_headers_encrypted FROM proxy_provider WHERE id = %s", [provider_id])
        return str(cursor.fetchone()[0])


def test_it_answers_a_create_with_the_header_names_and_masked_values(owner_api):
    response = create(owner_api)

    assert response.status_code == 201, response.content
    assert response.json()["extra_headers"] == {"OpenAI-Organization": "***"}
    assert HEADER_SECRET not in response.content.decode()


def test_it_stores_extra_header_values_encrypted(owner_api):
    provider_id = create(owner_api).json()["id"]

    assert HEADER_SECRET not in column_text(provider_id)
    assert "OpenAI-Organization" in column_text(provider_id)
    assert stored(provider_id) == {"OpenAI-Organization": HEADER_SECRET}


def test_it_shows_masked_values_to_an_admin_and_a_viewer(owner_api, viewer_api):
    provider_id = create(owner_api).json()["id"]

    for api in (owner_api, viewer_api):
        for path in (f"/v1/providers/{provider_id}", "/v1/providers"):
            response = api.get(path)
            assert response.status_code == 200
            assert HEADER_SECRET not in response.content.decode()
        assert api.get(f"/v1/providers/{provider_id}").json()["extra_headers"] == {"OpenAI-Organization": "***"}


def test_it_shows_an_outsider_nothing_of_the_provider(owner_api, outsider_api):
    provider_id = create(owner_api).json()["id"]

    assert_error(outsider_api.get(f"/v1/providers/{provider_id}"), 404, "not_found")
    response = outsider_api.patch(f"/v1/providers/{provider_id}", {"extra_headers": {}}, format="json")
    assert_error(response, 404, "not_found")
    assert stored(provider_id) == {"OpenAI-Organization": HEADER_SECRET}


def test_it_keeps_values_out_of_the_events(owner_api, viewer_api, tenant):
    provider_id = create(owner_api).json()["id"]
    owner_api.patch(f"/v1/providers/{provider_id}", {"extra_headers": {"OpenAI-Organization": OTHER_SECRET}},
                    format="json")  # fmt: skip

    for api in (owner_api, viewer_api):
        body = api.get("/v1/events", {"object_id": provider_id, "limit": 100}).content.decode()
        assert HEADER_SECRET not in body
        assert OTHER_SECRET not in body
    stored_events = str(list(Event.objects.filter(tenant_id=tenant.id).values_list("changes", flat=True)))
    assert HEADER_SECRET not in stored_events
    assert OTHER_SECRET not in stored_events


def test_it_says_in_the_events_which_headers_changed(owner_api):
    provider_id = create(owner_api).json()["id"]

    owner_api.patch(f"/v1/providers/{provider_id}", {"extra_headers": {"OpenAI-Organization": OTHER_SECRET}},
                    format="json")  # fmt: skip

    events = owner_api.get("/v1/events", {"object_id": provider_id}).json()["data"]
    created, updated = events[1], events[0]
    assert created["changes"]["extra_headers"] == {"before": None, "after": {"OpenAI-Organization": "***"}}
    assert updated["action"] == "provider.updated"
    assert updated["changes"]["extra_headers"] == {
        "before": {"OpenAI-Organization": "***"}, "after": {"OpenAI-Organization": "***"}, "changed": True,
    }  # fmt: skip


def test_it_keeps_a_stored_value_sent_back_as_the_mask(owner_api):
    provider_id = create(owner_api, **{"X-Team": "blue"}).json()["id"]
    read = owner_api.get(f"/v1/providers/{provider_id}").json()["extra_headers"]

    response = owner_api.patch(f"/v1/providers/{provider_id}", {"extra_headers": {**read, "X-Team": "green"}},
                               format="json")  # fmt: skip

    assert response.status_code == 200, response.content
    assert stored(provider_id) == {"OpenAI-Organization": HEADER_SECRET, "X-Team": "green"}


def test_it_records_no_change_when_every_value_comes_back_masked(owner_api):
    provider_id = create(owner_api).json()["id"]

    owner_api.patch(f"/v1/providers/{provider_id}", {"extra_headers": {"OpenAI-Organization": "***"}}, format="json")

    assert stored(provider_id) == {"OpenAI-Organization": HEADER_SECRET}
    actions = [e["action"] for e in owner_api.get("/v1/events", {"object_id": provider_id}).json()["data"]]
    assert actions == ["provider.created"]


def test_it_removes_a_header_left_out_and_keeps_them_through_other_changes(owner_api):
    provider_id = create(owner_api, **{"X-Team": "blue"}).json()["id"]

    owner_api.patch(f"/v1/providers/{provider_id}", {"timeout_seconds": 5}, format="json")
    assert stored(provider_id) == {"OpenAI-Organization": HEADER_SECRET, "X-Team": "blue"}

    owner_api.patch(f"/v1/providers/{provider_id}", {"extra_headers": {"X-Team": "***"}}, format="json")
    assert stored(provider_id) == {"X-Team": "blue"}


def test_it_refuses_the_mask_for_a_header_without_a_stored_value(owner_api):
    provider_id = create(owner_api).json()["id"]

    response = owner_api.patch(f"/v1/providers/{provider_id}", {"extra_headers": {"X-New": "***"}}, format="json")

    assert "X-New" in assert_error(response, 400, "invalid_request")["message"]
    assert stored(provider_id) == {"OpenAI-Organization": HEADER_SECRET}
    assert_error(owner_api.post("/v1/providers", {"name": "p", "kind": "openai", "extra_headers": {"X-A": "***"}},
                                format="json"), 400, "invalid_request")  # fmt: skip


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Injected": "a\r\nHost: evil.example"},
        {"Bad Name": "x"},
        {f"X-H{n}": "v" for n in range(51)},
    ],
)
def test_it_refuses_headers_that_cannot_be_sent(owner_api, headers):
    response = owner_api.post("/v1/providers", {"name": "p", "kind": "openai", "extra_headers": headers},
                              format="json")  # fmt: skip

    assert "extra_headers" in assert_error(response, 400, "invalid_request")["message"]


def test_it_refuses_a_viewer_writing_extra_headers(viewer_api, tenant):
    provider = factories.make_provider(tenant, extra_headers={"X-Team": "blue"})

    response = viewer_api.patch(f"/v1/providers/{provider.id}", {"extra_headers": {"X-Team": "red"}}, format="json")

    assert_error(response, 403, "forbidden", "insufficient_role")
    assert decrypt_secret(Provider.objects.get(pk=provider.id).extra_headers_encrypted["X-Team"]) == "blue"
