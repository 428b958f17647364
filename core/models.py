"""Abstract bases shared by the tenant-owned models."""

from __future__ import annotations

from django.db import models


class TenantQuerySet(models.QuerySet):
    def for_tenant(self, tenant_id: str) -> TenantQuerySet:
        """The one tenant filter: every selector starts here (STYLE rule 1)."""
        if not tenant_id:
            raise ValueError("a tenant is required")
        return self.filter(tenant_id=tenant_id)


class TenantOwned(models.Model):
    """A model that belongs to exactly one tenant and is never visible to another."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        abstract = True
