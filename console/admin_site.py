"""The admin site of the console: its sign-in gate is the console's rule of who may enter."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from tenants.access import is_console_user


class ConsoleAdminSite(admin.AdminSite):
    """Django's admin site, with :func:`tenants.access.is_console_user` as its gate.

    Django's own gate (active and staff) is the same rule today; asking the shared function
    keeps the admin, the console pages, the management API and the playground from drifting.
    """

    def has_permission(self, request: HttpRequest) -> bool:
        return is_console_user(getattr(request, "user", None))
