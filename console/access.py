"""Who may open a console page, and which tenant it shows (SPEC section 7).

The console pages reuse the admin's rule (:func:`tenants.access.console_user_access`): tenant
staff see their own tenant and nothing else, whatever the query string says; platform
superusers pick a tenant with a selector, remembered in the session. Every page reads its
data through selectors called with :attr:`ConsoleScope.tenant_id`, so a page cannot show
another tenant's data without naming it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from tenants.access import ConsoleAccess, console_access
from tenants.models import Tenant

SESSION_TENANT = "console_tenant_id"
TENANT_PARAM = "tenant"


@dataclass(frozen=True, slots=True)
class ConsoleScope:
    """The signed-in user's access and the one tenant the page shows."""

    access: ConsoleAccess
    tenant: Tenant | None  # None only for a superuser on a platform without tenants
    tenants: list[Tenant] = field(default_factory=list)  # what a superuser may pick from

    @property
    def tenant_id(self) -> str:
        if self.tenant is None:
            raise ValueError("no tenant is selected")
        return self.tenant.pk

    @property
    def can_write(self) -> bool:
        return self.access.can_write

    def query(self) -> str:
        """The query-string part that keeps a superuser's tenant choice on a link."""
        return f"{TENANT_PARAM}={self.tenant.pk}" if self.access.is_platform and self.tenant else ""


class ConsoleRequest(HttpRequest):
    console: ConsoleScope


def console_scope(request: HttpRequest) -> ConsoleScope | None:
    """The scope of a console page, or None when the user may see no tenant at all."""
    access = console_access(request)
    if access is None:
        return None
    if not access.is_platform:
        return ConsoleScope(access=access, tenant=Tenant.objects.filter(pk=access.tenant_id).first())
    tenants = list(Tenant.objects.order_by("name", "id"))
    asked = request.GET.get(TENANT_PARAM)
    wanted = asked or request.session.get(SESSION_TENANT)
    tenant = next((t for t in tenants if t.pk == wanted), tenants[0] if tenants else None)
    if asked and tenant is not None and tenant.pk == asked:
        request.session[SESSION_TENANT] = tenant.pk
    return ConsoleScope(access=access, tenant=tenant, tenants=tenants)


def console_context(request: ConsoleRequest, **context: Any) -> dict[str, Any]:
    """The admin's context (header, sidebar, theme) plus the console scope."""
    return {**admin.site.each_context(request), "console": request.console, **context}


def console_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap a console view: admin login, CSRF and no-cache as every admin page, then the scope.

    Staff without a membership get 403 (no access is the safe failure); a superuser on a
    platform without any tenant gets a page saying so instead of the view.
    """

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        scope = console_scope(request)
        if scope is None:
            raise PermissionDenied
        request.console = scope
        if scope.tenant is None:
            return TemplateResponse(request, "console/no_tenant.html", console_context(request, title="Console"))
        return view(request, *args, **kwargs)

    return admin.site.admin_view(wrapped)
