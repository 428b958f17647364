from __future__ import annotations

from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    """Setting tenants up: creating one with its defaults and first admin credential, and who
    may administer it. It orchestrates the apps below it and owns no model."""

    name = "provisioning"
    verbose_name = "Provisioning"
