"""On PostgreSQL the database itself refuses UPDATE and DELETE of sealed records and of
checkpoints; only the retention task, inside its own transaction, may delete sealed records."""

from __future__ import annotations

from django.db import migrations

TRIGGERS = """
CREATE OR REPLACE FUNCTION aidgate_requestlog_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF OLD.sealed_at IS NOT NULL THEN
            RAISE EXCEPTION 'sealed request records are append-only (%)', OLD.id;
        END IF;
        RETURN NEW;
    END IF;
    IF OLD.sealed_at IS NOT NULL AND coalesce(current_setting('aidgate.retention', true), '') <> 'on' THEN
        RAISE EXCEPTION 'sealed request records are deleted only by retention (%)', OLD.id;
    END IF;
    RETURN OLD;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER aidgate_requestlog_append_only
    BEFORE UPDATE OR DELETE ON forensics_requestlog
    FOR EACH ROW EXECUTE FUNCTION aidgate_requestlog_guard();

CREATE OR REPLACE FUNCTION aidgate_checkpoint_guard() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit checkpoints are append-only';
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER aidgate_checkpoint_append_only
    BEFORE UPDATE OR DELETE ON forensics_auditcheckpoint
    FOR EACH ROW EXECUTE FUNCTION aidgate_checkpoint_guard();
"""

DROP = """
DROP TRIGGER IF EXISTS aidgate_requestlog_append_only ON forensics_requestlog;
DROP TRIGGER IF EXISTS aidgate_checkpoint_append_only ON forensics_auditcheckpoint;
DROP FUNCTION IF EXISTS aidgate_requestlog_guard();
DROP FUNCTION IF EXISTS aidgate_checkpoint_guard();
"""


def install(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(TRIGGERS, params=None)


def uninstall(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("forensics", "0002_audit_chain")]

    operations = [migrations.RunPython(install, uninstall)]
