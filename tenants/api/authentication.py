"""Console sessions on the management API (SPEC sections 2 and 7).

A session counts only if its user is a console user by the console's own rule
(:mod:`tenants.access`): signed in, active and staff. Anyone else's session is no credential
(``401``, as the console shows them its sign-in page); a console user without a tenant gets
``403 forbidden``, reason ``no_tenant``. CSRF is enforced on unsafe methods.

``X-Tenant-Id`` selects the tenant of a platform superuser's session, who belongs to no
tenant and would otherwise have none: a superuser without a membership must send it
(``403 forbidden``, reason ``tenant_required``, if not). Tenant staff are fixed to their
tenant; a header naming another answers ``404 not_found`` (reason ``unknown_tenant``),
exactly like an unknown tenant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import SessionAuthentication
from rest_framework.request import Request

from core.actors import Actor
from core.api.principal import REALM, TENANT_HEADER, USER, Principal
from core.errors import forbidden, not_found
from core.log_json import logged_tenant_set
from tenants.access import ConsoleAccess, console_user_access, is_console_user
from tenants.models import Tenant

if TYPE_CHECKING:  # the schema generator imports DRF's views, which import this module
    from drf_spectacular.openapi import AutoSchema


class ConsoleSessionAuthentication(SessionAuthentication):
    """A console user's Django session; CSRF is enforced on unsafe methods for it."""

    def authenticate(self, request: Request) -> tuple[Any, Principal] | None:
        # DRF's own check is only is_active; a session is a credential here exactly when the
        # console would let its user in.
        user = getattr(request._request, "user", None)
        if not is_console_user(user):
            return None
        self.enforce_csrf(request)
        access = console_user_access(user)
        if access is None:
            raise forbidden("no_tenant", "this console user belongs to no tenant")
        principal = session_principal(request, user, access)
        logged_tenant_set(principal.tenant_id)
        return user, principal

    def authenticate_header(self, request: Request) -> str:
        # Without it DRF would turn a missing credential into a 403 (SPEC: 401).
        return REALM


def session_principal(request: Request, user: Any, access: ConsoleAccess) -> Principal:
    """The principal of a console user's session: their tenant, or the one a superuser names."""
    actor = Actor(USER, str(user.pk))
    requested = request.META.get(TENANT_HEADER, "").strip() or None
    if access.is_platform:
        if requested is not None:
            if not Tenant.objects.filter(pk=requested).exists():
                raise not_found("unknown tenant", "unknown_tenant")
            return Principal(tenant_id=requested, kind=USER, role=access.role, actor=actor)
        if access.home_tenant_id is None:
            raise forbidden("tenant_required", "a platform superuser must name the tenant in the X-Tenant-Id header")
        return Principal(tenant_id=access.home_tenant_id, kind=USER, role=access.role, actor=actor)
    if requested is not None and requested != access.tenant_id:
        raise not_found("unknown tenant", "unknown_tenant")
    return Principal(tenant_id=access.tenant_id, kind=USER, role=access.role, actor=actor)


class ConsoleSessionScheme(OpenApiAuthenticationExtension):
    target_class = ConsoleSessionAuthentication
    name = "consoleSession"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "sessionid",
            "description": "A console login; unsafe methods need the X-CSRFToken header. "
            "Platform superusers name the tenant in X-Tenant-Id.",
        }
