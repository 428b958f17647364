"""Thin Celery tasks of the forensic side: they call services and nothing else."""

from __future__ import annotations

from celery import shared_task

from forensics.partitions import partitions_ensure
from forensics.sealing import audit_retention_all, audit_seal_all, seal_window_since
from tenants.models import RETENTION_FLOOR_DAYS, Tenant


@shared_task(name="forensics.tasks.audit_seal", ignore_result=True, time_limit=120, soft_time_limit=100)
def audit_seal() -> int:
    return audit_seal_all(since=seal_window_since())


@shared_task(name="forensics.tasks.audit_retention", ignore_result=True, time_limit=1800, soft_time_limit=1700)
def audit_retention() -> int:
    # A value under the floor can only have been written around the services (or before
    # they checked it): such a tenant keeps its records until someone sets a valid one.
    tenants = Tenant.objects.filter(log_retention_days__gte=RETENTION_FLOOR_DAYS)
    return audit_retention_all(retention_days=dict(tenants.values_list("id", "log_retention_days")))


@shared_task(name="forensics.tasks.records_partitions_ensure", ignore_result=True, time_limit=600)
def records_partitions_ensure() -> int:
    return len(partitions_ensure())
