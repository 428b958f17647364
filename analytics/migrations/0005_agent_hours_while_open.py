"""Agents by model or app are kept by the hour while their 8-hour block is open.

Hours folded before this migration have no such rows, and a reader would take those hours as
empty. Each tenant's watermark goes back to just before its first record in its open 8-hour
blocks: answers stay exact (a record past the watermark is read from the records unless its
block's rows hold it), and the next rollup run folds those hours again, with their new rows.
Closed blocks keep their rows; nothing is folded twice (rows are recomputed, not added to).
"""

from __future__ import annotations

from django.db import migrations
from django.db.models import Min

OPEN_HOURS_BLOCK = 8


def watermarks_lower(apps, schema_editor) -> None:
    states = apps.get_model("analytics", "UsageRollupState").objects
    records = apps.get_model("forensics", "RequestLog").objects
    for state in states.filter(through_seq__gt=0):
        if state.closed_until is None:
            # No closed blocks: every hour is open, fold them all again.
            states.filter(pk=state.pk).update(through_seq=0)
            continue
        closed = state.closed_until
        open_from = closed.replace(
            hour=closed.hour // OPEN_HOURS_BLOCK * OPEN_HOURS_BLOCK, minute=0, second=0, microsecond=0
        )
        first = records.filter(
            tenant_id=state.tenant_id, created_at__gte=open_from, seq__lte=state.through_seq
        ).aggregate(first=Min("seq"))["first"]
        if first is not None:
            states.filter(pk=state.pk).update(through_seq=first - 1)


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0004_rollup_unpriced_requests"),
        ("forensics", "0007_record_cost_unpriced"),
    ]

    operations = [migrations.RunPython(watermarks_lower, migrations.RunPython.noop)]
