"""Who a console user is (SPEC 2 and 7), decided here and nowhere else.

The Django admin (its sign-in gate and every tenant-scoped admin class), the console pages,
the management API's session authentication and the proxy's playground sessions all ask
these two functions. Before they did, the management API let a signed-in user through who
was no longer staff, where the console had sent them to its sign-in page: three places
worked out a console user's tenant, each with its own rule.

A console user is signed in, active and staff (:func:`is_console_user`). Such a user sees
every tenant as a platform superuser, or the one tenant of their membership with its role;
staff without a membership see nothing (:func:`console_user_access`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpRequest

from core.actors import Actor
from core.log_json import logged_tenant_set
from tenants.models import Membership, MembershipRole


@dataclass(frozen=True, slots=True)
class ConsoleAccess:
    """What a console user may see and do."""

    tenant_id: str | None  # None: platform superuser, every tenant
    role: str  # admin | viewer
    # The tenant of the user's own membership. For tenant staff it is ``tenant_id``; for a
    # superuser, the tenant the management API uses when the request names none.
    home_tenant_id: str | None = None

    @property
    def is_platform(self) -> bool:
        return self.tenant_id is None

    @property
    def can_write(self) -> bool:
        return self.role == MembershipRole.ADMIN


def is_console_user(user: Any) -> bool:
    """Whether ``user`` may use the console at all: signed in, active and staff.

    Django's session loading already turns an inactive user into an anonymous one with the
    default backend; the check is repeated so that no backend setting can let one in.
    """
    return user is not None and bool(user.is_authenticated and user.is_active and user.is_staff)


def _membership_of(user: Any) -> Membership | None:
    try:
        return user.membership
    except ObjectDoesNotExist:
        return None


def console_user_access(user: Any) -> ConsoleAccess | None:
    """The console access of ``user``, or None when they may see nothing at all.

    None for whoever fails :func:`is_console_user`, and for staff without a membership
    (created by hand, or whose membership was removed) rather than some default tenant: no
    access is the safe failure. A caller that must tell the two apart (the management API
    answers 401 for the first and 403 for the second) asks :func:`is_console_user` first.
    """
    if not is_console_user(user):
        return None
    membership = _membership_of(user)
    home_tenant_id = membership.tenant_id if membership is not None else None
    if user.is_superuser:
        return ConsoleAccess(tenant_id=None, role=MembershipRole.ADMIN, home_tenant_id=home_tenant_id)
    if membership is None:
        return None
    return ConsoleAccess(tenant_id=membership.tenant_id, role=membership.role, home_tenant_id=home_tenant_id)


def console_access(request: HttpRequest) -> ConsoleAccess | None:
    """The signed-in user's console access (:func:`tenants.access.console_user_access`).

    A tenant user's tenant is named in the request's log lines from here on (a platform
    superuser's console spans every tenant, so it names none).
    """
    access = console_user_access(getattr(request, "user", None))
    if access is not None:
        logged_tenant_set(access.tenant_id)
    return access


def console_actor(request: HttpRequest) -> Actor:
    """The event-trail actor of a console action: the user, by primary key."""
    return Actor("user", str(request.user.pk))
