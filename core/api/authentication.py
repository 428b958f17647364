"""Who is calling the management API (SPEC sections 2 and 5), resolved once per request.

Two credentials are accepted: an org key (``Authorization: Bearer aid_org_…``) and a
console session (Django login, CSRF enforced on unsafe methods). Both resolve to a
:class:`Principal` on ``request.auth``; views read the tenant from it and from nowhere else.

Agent keys (``aid_sk_…``) are refused by ``org_key_verify`` with ``403
wrong_credential_type``. The one exception, reading an app's guardrails (SPEC 5.6), lists
:class:`BearerOrAgentKeyAuthentication` instead, which verifies agent keys with
``key_verify``; what such a key may then do is decided by the view.

A session counts only if its user is a console user by the console's own rule
(:mod:`tenants.access`): signed in, active and staff. Anyone else's session is no credential
(``401``, as the console shows them its sign-in page); a console user without a tenant gets
``403 forbidden``, reason ``no_tenant``.

``X-Tenant-Id`` selects the tenant of a platform superuser's session, who belongs to no
tenant and would otherwise have none: a superuser without a membership must send it
(``403 forbidden``, reason ``tenant_required``, if not). For every other credential the
tenant is fixed; a header naming another tenant answers ``404 not_found`` (reason
``unknown_tenant``), exactly like an unknown tenant, so it reveals nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.request import Request

from core.actors import Actor
from core.errors import forbidden, not_found, unauthorized
from keys.models import Key, OrgKey, OrgRole
from keys.secrets import AGENT_KEY_PREFIX
from keys.services import credential_touch, key_verify, org_key_verify
from tenants.access import ConsoleAccess, console_user_access, console_user_check
from tenants.models import Tenant

ORG_KEY = "org_key"
USER = "user"
AGENT_KEY = "agent_key"
TENANT_HEADER = "HTTP_X_TENANT_ID"
REALM = 'Bearer realm="aidgate"'


@dataclass(frozen=True, slots=True)
class Principal:
    """The resolved caller: its tenant, its role and how it appears in the event trail."""

    tenant_id: str
    kind: str  # org_key | user | agent_key
    role: str | None  # admin | viewer; None for an agent key, which never writes
    actor: Actor | None
    agent_key: Key | None = None

    @property
    def is_agent_key(self) -> bool:
        return self.kind == AGENT_KEY

    @property
    def is_admin(self) -> bool:
        return self.role == OrgRole.ADMIN

    @property
    def agent_key_app_id(self) -> str | None:
        """The app an agent key belongs to: its own app, else its agent's (SPEC 5.6)."""
        if self.agent_key is None:
            return None
        return self.agent_key.app_id or self.agent_key.agent.app_id


def _requested_tenant(request: Request) -> str | None:
    return request.META.get(TENANT_HEADER, "").strip() or None


def _fixed_tenant(request: Request, tenant_id: str) -> str:
    requested = _requested_tenant(request)
    if requested is not None and requested != tenant_id:
        raise not_found("unknown tenant", "unknown_tenant")
    return tenant_id


def bearer_secret(request: Request) -> str | None:
    """The secret of ``Authorization: Bearer <secret>``; None when the header is absent."""
    header = request.META.get("HTTP_AUTHORIZATION")
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise unauthorized("invalid_key", "the Authorization header must be 'Bearer <org key>'")
    value = value.strip()
    if not value:
        raise unauthorized("missing_credential", "the Authorization header holds no credential")
    return value


class BearerAuthentication(BaseAuthentication):
    """Org keys in ``Authorization: Bearer``; last use is recorded (at most once a minute)."""

    accepts_agent_keys = False

    def authenticate(self, request: Request) -> tuple[None, Principal] | None:
        secret = bearer_secret(request)
        if secret is None:
            return None
        if self.accepts_agent_keys and secret.startswith(AGENT_KEY_PREFIX):
            key = key_verify(secret)
            credential_touch(Key, key.id)
            principal = Principal(
                tenant_id=_fixed_tenant(request, key.tenant_id), kind=AGENT_KEY, role=None, actor=None, agent_key=key
            )
            return None, principal
        org_key = org_key_verify(secret)
        credential_touch(OrgKey, org_key.id)
        principal = Principal(
            tenant_id=_fixed_tenant(request, org_key.tenant_id),
            kind=ORG_KEY,
            role=org_key.role,
            actor=Actor(ORG_KEY, org_key.id),
        )
        return None, principal

    def authenticate_header(self, request: Request) -> str:
        return REALM


class BearerOrAgentKeyAuthentication(BearerAuthentication):
    """Also accepts agent keys; only for the views that let an agent key in (SPEC 5.6)."""

    accepts_agent_keys = True


class ConsoleSessionAuthentication(SessionAuthentication):
    """A console user's Django session; CSRF is enforced on unsafe methods for it."""

    def authenticate(self, request: Request) -> tuple[Any, Principal] | None:
        # DRF's own check is only is_active; a session is a credential here exactly when the
        # console would let its user in.
        user = getattr(request._request, "user", None)
        if not console_user_check(user):
            return None
        self.enforce_csrf(request)
        access = console_user_access(user)
        if access is None:
            raise forbidden("no_tenant", "this console user belongs to no tenant")
        return user, session_principal(request, user, access)

    def authenticate_header(self, request: Request) -> str:
        # Without it DRF would turn a missing credential into a 403 (SPEC: 401).
        return REALM


def session_principal(request: Request, user: Any, access: ConsoleAccess) -> Principal:
    """The principal of a console user's session: their tenant, or the one a superuser names."""
    actor = Actor(USER, str(user.pk))
    if access.is_platform:
        requested = _requested_tenant(request)
        if requested is not None:
            if not Tenant.objects.filter(pk=requested).exists():
                raise not_found("unknown tenant", "unknown_tenant")
            return Principal(tenant_id=requested, kind=USER, role=access.role, actor=actor)
        if access.home_tenant_id is None:
            raise forbidden("tenant_required", "a platform superuser must name the tenant in the X-Tenant-Id header")
        return Principal(tenant_id=access.home_tenant_id, kind=USER, role=access.role, actor=actor)
    return Principal(tenant_id=_fixed_tenant(request, access.tenant_id), kind=USER, role=access.role, actor=actor)
