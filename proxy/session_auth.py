"""Console sessions on the proxy: the playground calls the real gateway path as the person
signed in to the console (SPEC 2, credential ``session``).

A session is accepted only with the header ``X-Aidgate-Playground: 1``. A cross-site page
cannot send a custom header without a CORS preflight, which the proxy never grants, and the
session cookie is SameSite=Lax: together they are the CSRF defence of this path. The agent
is named by ``X-Agent-Id`` and must belong to the user's tenant (any tenant for platform
superusers); its models, policies and budgets apply. Who the user is, and which tenant is
theirs, is the console's own rule (:mod:`tenants.access`). This path reads the session from the
database on every request: it serves people typing in a playground, not machine traffic.

Every proxy path takes it alike (chat, ``/v1/messages``, ``/v1/responses``: the playground
speaks each dialect), so the header, the session and the agent's tenant are checked in one
place, before anything depends on the path.
"""

from __future__ import annotations

from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from types import SimpleNamespace

from django.conf import settings
from django.contrib.auth import get_user
from django.utils.module_loading import import_string

from core.errors import forbidden, invalid_request, unauthorized
from identity.models import Agent
from tenants.access import console_user_access, is_console_user

PLAYGROUND_HEADER = "x-aidgate-playground"


@dataclass(frozen=True, slots=True)
class SessionCaller:
    user_id: str
    email: str
    tenant_id: str


def session_key_of(headers: dict[str, str]) -> str | None:
    raw = headers.get("cookie")
    if not raw:
        return None
    try:
        cookie = SimpleCookie(raw)
    except CookieError:
        return None
    morsel = cookie.get(settings.SESSION_COOKIE_NAME)
    return morsel.value if morsel is not None else None


def session_caller_load(session_key: str, agent_id: str) -> SessionCaller | None:
    """The signed-in user and the tenant the chosen agent belongs to, or None (runs on a DB thread)."""
    store = import_string(settings.SESSION_ENGINE).SessionStore(session_key)
    # get_user also checks the session's auth hash, so a changed password ends the session.
    user = get_user(SimpleNamespace(session=store))
    if not is_console_user(user):
        return None
    access = console_user_access(user)
    agent = Agent.objects.filter(pk=agent_id, deleted_at=None).values("tenant_id").first()
    if agent is None or access is None or not (access.is_platform or access.tenant_id == agent["tenant_id"]):
        return SessionCaller(str(user.pk), user.email or user.get_username(), "")
    return SessionCaller(str(user.pk), (user.email or user.get_username()).lower(), agent["tenant_id"])


def session_request_check(headers: dict[str, str]) -> str:
    """The agent id of a playground request, after the CSRF header check."""
    if headers.get(PLAYGROUND_HEADER) != "1":
        raise unauthorized("missing_credential", "no credential: send a key or a token")
    agent_id = headers.get("x-agent-id")
    if not agent_id:
        raise invalid_request("name the agent of a console request with X-Agent-Id", "agent_required")
    return agent_id


def unknown_agent() -> Exception:
    return forbidden("agent_not_allowed", "no such agent for this console user")
