"""Agents by model and by app are kept from 8-hour blocks up (they started at the day).

A closed 8-hour block without rows would be read as empty, and a day would later be built
from those missing rows, so rollups are folded again as in ``0002``: every tenant's watermark
goes back to 0 and the agent breakdowns' rows are deleted. Until the beat has folded the
records again, answers stay exact and are read from the records.
"""

from __future__ import annotations

from django.db import migrations


def agent_rollups_refold(apps, schema_editor) -> None:
    apps.get_model("analytics", "UsageRollup").objects.filter(breakdown__in=["agent_model", "agent_app"]).delete()
    apps.get_model("analytics", "UsageRollupState").objects.update(through_seq=0, closed_until=None)


class Migration(migrations.Migration):
    dependencies = [("analytics", "0002_usage_rollup_breakdowns")]

    operations = [migrations.RunPython(agent_rollups_refold, migrations.RunPython.noop)]
