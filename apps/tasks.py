"""Thin Celery tasks of apps: they call services and nothing else."""

from __future__ import annotations

from celery import shared_task

from apps.services import jwt_revocations_prune


@shared_task(name="apps.tasks.jwt_revocations_prune", ignore_result=True, time_limit=600, soft_time_limit=500)
def jwt_revocations_prune_task() -> int:
    return jwt_revocations_prune()
