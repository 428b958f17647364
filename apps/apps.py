from __future__ import annotations

from django.apps import AppConfig


class AppsConfig(AppConfig):
    name = "apps"
    label = "apps"
    verbose_name = "Apps and policies"
