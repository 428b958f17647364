"""The admin application with the console's own site (listed in ``INSTALLED_APPS``).

Kept apart from :mod:`console.admin_site`: app configurations are imported before any model
may be, and the site's rule reads memberships.
"""

from __future__ import annotations

from django.contrib.admin.apps import AdminConfig


class ConsoleAdminConfig(AdminConfig):
    """``django.contrib.admin`` whose default site is :class:`console.admin_site.ConsoleAdminSite`."""

    default_site = "console.admin_site.ConsoleAdminSite"
