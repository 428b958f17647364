"""The index of the logs' ``endpoint`` filter: ``(tenant_id, endpoint, created_at DESC, id DESC)``.

Like the indexes of ``0004_log_filter_indexes``, and for the same reasons: a filter on an
endpoint a tenant rarely uses (``embeddings``, ``messages``) would otherwise walk the tenant's
whole history, and PostgreSQL builds it ``CONCURRENTLY`` because this table takes writes on
every request. Django's model state does not know it; docs/forensics.md lists it.
"""

from __future__ import annotations

from django.db import migrations

TABLE = "forensics_requestlog"
NAME = "log_endpoint_time"
DEFINITION = "(tenant_id, endpoint, created_at DESC, id DESC)"


def install(apps, schema_editor) -> None:
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(f"CREATE INDEX {concurrently}IF NOT EXISTS {NAME} ON {TABLE} {DEFINITION}", params=None)


def uninstall(apps, schema_editor) -> None:
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(f"DROP INDEX {concurrently}IF EXISTS {NAME}", params=None)


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [("forensics", "0005_drop_duplicate_chain_index")]

    operations = [migrations.RunPython(install, uninstall)]
