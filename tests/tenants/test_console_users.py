"""Who a console user is (tenants.access), asked the same way on every surface a session opens:
the Django admin and the console pages, the management API, and the proxy's playground path.

Each person signs in while a console user; then they are deactivated, or lose the staff flag,
with their session cookie still in hand. The console sends them to its sign-in page; the
management API and the playground must refuse them just as firmly (a 401: their session is no
credential). Before the rule was shared, the management API served a member who was no longer
staff.
"""

from __future__ import annotations

import httpx
import pytest
from django.conf import settings
from django.contrib.admin.utils import quote
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from tests import factories

PEOPLE = ["owner", "member", "outsider", "superuser"]
LOST = {"inactive": {"is_active": False}, "not_staff": {"is_staff": False}}


@pytest.fixture
def scene(world, outsider):
    """The live gateway's tenant (the owner's), with a mock model for the playground."""
    factories.make_provider(world.tenant, kind="mock", models=["mock-*"])
    return world


def person(who: str, world, outsider):
    """A console user: an admin of the owner tenant, a viewer of it, an admin of another, a superuser."""
    if who == "superuser":
        return factories.make_console_user(None, superuser=True)
    tenant = outsider if who == "outsider" else world.tenant
    return factories.make_console_user(tenant, role="viewer" if who == "member" else "admin")


def lose_console_access(user, how: str) -> None:
    """What an administrator does to a signed-in person; their session cookie stays valid."""
    get_user_model().objects.filter(pk=user.pk).update(**LOST[how])


def api_client(user, world) -> APIClient:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    if user.is_superuser:
        client.credentials(HTTP_X_TENANT_ID=world.tenant.id)
    return client


def console_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def playground(world, user):
    """A playground request through the live gateway, with a session cookie taken now."""
    cookie = console_client(user).cookies[settings.SESSION_COOKIE_NAME].value

    def call() -> httpx.Response:
        headers = {
            "Cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}",
            "X-Aidgate-Playground": "1",
            "X-Agent-Id": world.agent.id,
        }
        with httpx.Client(base_url=world.gateway.url, timeout=10) as client:
            return client.post("/v1/chat/completions", headers=headers, json={
                "model": "mock-1", "messages": [{"role": "user", "content": "Hi"}],
            })  # fmt: skip

    return call


def agent_change_url(agent) -> str:
    """The agent's console page, its id quoted as the admin unquotes it (``_2F`` is ``/``)."""
    return reverse("admin:identity_agent_change", args=[quote(agent.pk)])


def reason(response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["reason"]


def assert_sent_to_sign_in(response) -> None:
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


# --- who is no longer a console user -----------------------------------------------------


@pytest.mark.parametrize("how", LOST)
@pytest.mark.parametrize("who", PEOPLE)
def test_it_refuses_a_session_on_the_management_api_once_its_user_is_no_console_user(scene, outsider, who, how):
    user = person(who, scene, outsider)
    client = api_client(user, scene)
    assert client.get(f"/v1/agents/{scene.agent.id}").status_code in (200, 404)  # a console user: served

    lose_console_access(user, how)

    assert reason(client.get(f"/v1/agents/{scene.agent.id}")) == (401, "missing_credential")
    assert reason(client.get("/v1/agents")) == (401, "missing_credential")
    # Not "csrf_failed" either: the session is no credential, whatever the method.
    assert reason(client.post("/v1/agents", {"name": "x"}, format="json")) == (401, "missing_credential")


@pytest.mark.parametrize("how", LOST)
@pytest.mark.parametrize("who", PEOPLE)
def test_it_sends_the_same_session_to_the_console_sign_in_page(scene, outsider, who, how):
    user = person(who, scene, outsider)
    client = console_client(user)
    assert client.get("/admin/").status_code == 200

    lose_console_access(user, how)

    assert_sent_to_sign_in(client.get("/admin/"))
    assert_sent_to_sign_in(client.get("/admin/console/"))
    assert_sent_to_sign_in(client.get(agent_change_url(scene.agent)))


@pytest.mark.parametrize("how", LOST)
@pytest.mark.parametrize("who", PEOPLE)
def test_it_refuses_the_same_session_on_the_playground(scene, outsider, who, how):
    user = person(who, scene, outsider)
    call = playground(scene, user)
    assert call().status_code in (200, 403)  # a console user: served, or refused the foreign agent

    lose_console_access(user, how)

    assert reason(call()) == (401, "invalid_session")


# --- console users, by their membership ---------------------------------------------------

SERVED = {
    # who: (management API on the owner's agent, console change page of it, playground with it)
    "owner": (200, 200, 200),
    "member": (200, 200, 200),
    "outsider": (404, 302, 403),
    "superuser": (200, 200, 200),
}


@pytest.mark.parametrize("who", PEOPLE)
def test_it_serves_a_console_user_by_their_membership_on_every_surface(scene, outsider, who):
    user = person(who, scene, outsider)
    api, page, chat = SERVED[who]

    assert api_client(user, scene).get(f"/v1/agents/{scene.agent.id}").status_code == api
    response = console_client(user).get(agent_change_url(scene.agent))
    assert response.status_code == page
    if page == 302:  # another tenant's agent: told it does not exist, not sent to sign in
        assert response["Location"] == "/admin/"
    assert playground(scene, user)().status_code == chat


def test_it_refuses_a_staff_session_without_a_membership_as_the_console_does(scene):
    user = factories.make_console_user(factories.make_tenant("Former Org"))
    user.membership.delete()

    assert reason(api_client(user, scene).get("/v1/agents")) == (403, "no_tenant")
    assert console_client(user).get("/admin/console/").status_code == 403
    assert reason(playground(scene, user)()) == (403, "agent_not_allowed")
