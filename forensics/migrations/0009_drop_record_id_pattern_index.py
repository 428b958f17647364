"""On PostgreSQL, drop the ``varchar_pattern_ops`` index Django made beside the records' ``id``.

Django gives every indexed ``CharField`` a second index for ``LIKE 'prefix%'``; nothing
searches record ids by prefix (an id is looked up whole, through the primary key ``(id,
created_at)``), so that index only cost every proxied request one more index entry to write
and every partition one more index to keep: on a bulk load of 20 million records, one of its
14 index builds, and the most expensive kind (random text). Django's model state never named
it, so there is nothing to change there; SQLite has no such index.
"""

from __future__ import annotations

from django.db import migrations

INDEX = "forensics_requestlog_id_fb83f345_like"


def drop(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


def restore(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {INDEX} ON forensics_requestlog (id varchar_pattern_ops)")


class Migration(migrations.Migration):
    dependencies = [("forensics", "0008_partition_records_by_month")]

    operations = [migrations.RunPython(drop, restore)]
