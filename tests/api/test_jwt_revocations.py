"""JWT revocations of an app (SPEC 3.3): create, list, delete; bounds; roles; isolation; trail."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from apps.models import JwtRevocation
from apps.services import jwt_revocations_prune
from forensics.models import Event
from tests import factories
from tests.api.support import assert_error


def path(app_id: str, revocation_id: str | None = None) -> str:
    base = f"/v1/apps/{app_id}/jwt-revocations"
    return f"{base}/{revocation_id}" if revocation_id else base


def test_it_revokes_a_jti_for_24_hours_by_default(owner_api, world):
    response = owner_api.post(path(world["app"]), {"jti": "token-1"}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["id"].startswith("jrv_")
    assert body["object"] == "jwt_revocation"
    assert (body["app_id"], body["jti"], body["sub"]) == (world["app"], "token-1", None)
    lifetime = datetime.fromisoformat(body["expires_at"]) - datetime.fromisoformat(body["created_at"])
    assert timedelta(hours=23, minutes=59) < lifetime <= timedelta(hours=24)


def test_it_revokes_a_subject_until_a_given_time(owner_api, world):
    until = (timezone.now() + timedelta(days=30) - timedelta(minutes=1)).isoformat()
    response = owner_api.post(path(world["app"]), {"sub": "alice", "expires_at": until}, format="json")

    assert response.status_code == 201, response.content
    assert (response.json()["sub"], response.json()["jti"]) == ("alice", None)
    assert datetime.fromisoformat(response.json()["expires_at"]) == datetime.fromisoformat(until)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"jti": "a", "sub": "b"},
        {"jti": ""},
        {"sub": "x" * 256},
        {"jti": "a", "expires_at": "2000-01-01T00:00:00Z"},
        {"jti": "a", "expires_at": "{31 days}"},
        {"jti": "a", "expires_at": "tomorrow"},
        {"jti": "a", "reason": "leaked"},
        {"jti": 5},
    ],
)
def test_it_refuses_a_bad_revocation(owner_api, world, body):
    if body.get("expires_at") == "{31 days}":
        body["expires_at"] = (timezone.now() + timedelta(days=31)).isoformat()
    before = JwtRevocation.objects.count()

    response = owner_api.post(path(world["app"]), body, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid_request"
    assert JwtRevocation.objects.count() == before


def test_it_lists_the_apps_live_revocations(owner_api, world, tenant):
    other_app = factories.make_app(tenant)
    for jti in ("a", "b"):
        owner_api.post(path(world["app"]), {"jti": jti}, format="json")
    owner_api.post(path(other_app.id), {"jti": "c"}, format="json")

    listed = owner_api.get(path(world["app"])).json()

    assert listed["object"] == "list"
    assert [r["jti"] for r in listed["data"]] == ["leaked-token", "a", "b"]  # world's own first


def test_it_no_longer_lists_an_expired_revocation_and_prunes_it(owner_api, world):
    created = owner_api.post(path(world["app"]), {"jti": "a"}, format="json").json()

    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        assert owner_api.get(path(world["app"])).json()["data"] == []
        assert_error(owner_api.get(path(world["app"], created["id"])), 404, "not_found")
        assert jwt_revocations_prune() == 2  # world's own one too
    assert not JwtRevocation.objects.exists()


def test_it_deletes_a_revocation(owner_api, world):
    created = owner_api.post(path(world["app"]), {"sub": "alice"}, format="json").json()

    assert owner_api.get(path(world["app"], created["id"])).json()["id"] == created["id"]
    assert owner_api.delete(path(world["app"], created["id"])).status_code == 204
    assert_error(owner_api.delete(path(world["app"], created["id"])), 404, "not_found")


def test_it_records_creation_and_deletion_in_the_trail(owner_api, world, owner_key):
    created = owner_api.post(path(world["app"]), {"jti": "token-1"}, format="json").json()
    owner_api.delete(path(world["app"], created["id"]))

    events = Event.objects.filter(object_id=created["id"]).order_by("created_at")
    assert [e.action for e in events] == ["jwt_revocation.created", "jwt_revocation.deleted"]
    assert events[0].changes["jti"] == {"before": None, "after": "token-1"}
    assert events[0].actor_id == owner_key[0].id
    assert events[1].changes["jti"] == {"before": "token-1", "after": None}


def test_a_viewer_reads_but_cannot_revoke(viewer_api, owner_api, world):
    created = owner_api.post(path(world["app"]), {"jti": "a"}, format="json").json()

    assert viewer_api.get(path(world["app"])).status_code == 200
    assert_error(
        viewer_api.post(path(world["app"]), {"jti": "b"}, format="json"), 403, "forbidden", "insufficient_role"
    )
    assert_error(viewer_api.delete(path(world["app"], created["id"])), 403, "forbidden", "insufficient_role")


def test_an_agent_key_cannot_use_it(agent_key_api, world):
    assert_error(agent_key_api.get(path(world["app"])), 403, "forbidden", "wrong_credential_type")


def test_another_tenants_app_and_revocation_answer_as_unknown_ones(owner_api, outsider_api, world):
    created = owner_api.post(path(world["app"]), {"jti": "a"}, format="json").json()

    for response in (
        outsider_api.get(path(world["app"])),
        outsider_api.post(path(world["app"]), {"jti": "b"}, format="json"),
        outsider_api.get(path(world["app"], created["id"])),
        outsider_api.delete(path(world["app"], created["id"])),
        outsider_api.get(path("app_doesnotexist00")),
    ):
        assert_error(response, 404, "not_found")
    assert JwtRevocation.objects.filter(pk=created["id"]).exists()
    assert JwtRevocation.objects.count() == 2


def test_a_revocation_of_another_app_answers_as_unknown(owner_api, world, tenant):
    other_app = factories.make_app(tenant)
    created = owner_api.post(path(other_app.id), {"jti": "a"}, format="json").json()

    assert_error(owner_api.get(path(world["app"], created["id"])), 404, "not_found")
    assert_error(owner_api.delete(path(world["app"], created["id"])), 404, "not_found")
