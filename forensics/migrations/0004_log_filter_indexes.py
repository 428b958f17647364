"""Indexes for the remaining filters of the logs API (SPEC 5.7) and for the sealer.

Each list query is ``WHERE tenant_id = ? AND <filter> ORDER BY created_at DESC, id DESC
LIMIT n``. On the tenant + time index alone, a filter on a rare value (or one no record has)
walks the tenant's whole history, so every filter gets an index that starts with
``(tenant_id, <column>)`` and continues in list order:

- ``log_app_time``, ``log_model_time``, ``log_status_time``: one entry per record;
- ``log_error_time``: partial (``error_code IS NOT NULL``), as most requests succeed;
- ``log_unsealed``: partial (``sealed_at IS NULL``), a handful of rows at any time, which
  lets the sealer find each tenant's pending records without scanning the sealed ones.

They are created with SQL rather than declared in ``RequestLog.Meta`` so that PostgreSQL can
build them ``CONCURRENTLY`` (this table is the largest of the deployment and takes writes
on every request). Django's model state does not know them: ``makemigrations`` sees no
change, and docs/forensics.md lists them.
"""

from __future__ import annotations

from django.db import migrations

TABLE = "forensics_requestlog"
INDEXES = {
    "log_app_time": "(tenant_id, app_id, created_at DESC, id DESC)",
    "log_model_time": "(tenant_id, model_requested, created_at DESC, id DESC)",
    "log_status_time": "(tenant_id, status_code, created_at DESC, id DESC)",
    "log_error_time": "(tenant_id, error_code, created_at DESC, id DESC) WHERE error_code IS NOT NULL",
    "log_unsealed": "(tenant_id, created_at, id) WHERE sealed_at IS NULL",
}


def install(apps, schema_editor) -> None:
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    for name, definition in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX {concurrently}IF NOT EXISTS {name} ON {TABLE} {definition}", params=None)


def uninstall(apps, schema_editor) -> None:
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX {concurrently}IF EXISTS {name}", params=None)


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [("forensics", "0003_append_only_triggers")]

    operations = [migrations.RunPython(install, uninstall)]
