"""The Celery app: Redis as broker when ``CELERY_BROKER_URL`` is set, inline tasks otherwise.

Tasks are thin (ids in, a service does the work); the beat schedule seals audit chains every
few seconds, folds usage rollups every minute, applies retention, makes record partitions ahead
and prunes expired JWT revocations hourly.
"""

from __future__ import annotations

import os

from celery import Celery

from config.settings import settings_module_default

os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module_default())

app = Celery("aidgate")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    "audit-seal": {"task": "forensics.tasks.audit_seal", "schedule": 2.0},
    "audit-retention": {"task": "forensics.tasks.audit_retention", "schedule": 3600.0},
    # Month partitions of the records, made months ahead (PostgreSQL; a no-op on SQLite).
    "records-partitions-ensure": {"task": "forensics.tasks.records_partitions_ensure", "schedule": 3600.0},
    # Folds newly sealed records into usage rollups; answers stay exact between runs.
    "usage-rollup": {"task": "analytics.tasks.usage_rollup_all", "schedule": 60.0},
    # Expired JWT revocations are already ignored by every reader; this only frees the rows.
    "jwt-revocations-prune": {"task": "apps.tasks.jwt_revocations_prune", "schedule": 3600.0},
}
