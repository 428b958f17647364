"""Reads of apps and policies, always within one tenant."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from apps.models import App, JwtRevocation, Policy


def app_list(*, tenant_id: str) -> QuerySet[App]:
    return App.objects.for_tenant(tenant_id)


def app_get(*, tenant_id: str, app_id: str) -> App | None:
    return app_list(tenant_id=tenant_id).filter(pk=app_id).first()


def policy_list(*, tenant_id: str) -> QuerySet[Policy]:
    return Policy.objects.for_tenant(tenant_id).prefetch_related("apps", "agents")


def policy_get(*, tenant_id: str, policy_id: str) -> Policy | None:
    return policy_list(tenant_id=tenant_id).filter(pk=policy_id).first()


def jwt_revocation_list(*, tenant_id: str, app_id: str) -> QuerySet[JwtRevocation]:
    """The app's live revocations, oldest first; expired ones are no longer listed."""
    return JwtRevocation.objects.for_tenant(tenant_id).filter(app_id=app_id, expires_at__gt=timezone.now())


def jwt_revocation_get(*, tenant_id: str, app_id: str, revocation_id: str) -> JwtRevocation | None:
    return jwt_revocation_list(tenant_id=tenant_id, app_id=app_id).filter(pk=revocation_id).first()
