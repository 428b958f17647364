"""Usage rollups by breakdown and block instead of one cell per app, agent, user and model.

The old rows cannot be turned into the new ones (they held no per-breakdown histograms), and
rollups are derived data: the table is recreated empty and every tenant's watermark goes back
to 0, so the next beat runs (``analytics.tasks.usage_rollup_all``) fold the records again.
Until they have, usage answers stay exact and are read from the records. Records pruned by
retention before this migration are not in the new rollups.
"""

from __future__ import annotations

from django.db import migrations, models


def watermarks_reset(apps, schema_editor) -> None:
    apps.get_model("analytics", "UsageRollupState").objects.update(through_seq=0, closed_until=None)


class Migration(migrations.Migration):
    dependencies = [("analytics", "0001_initial")]

    operations = [
        migrations.DeleteModel(name="UsageRollup"),
        migrations.CreateModel(
            name="UsageRollup",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("tenant_id", models.CharField(max_length=32)),
                (
                    "span",
                    models.PositiveSmallIntegerField(help_text="hours: 1, 2, 4, 8, 24, 48, 96, 192, 384 or 768"),
                ),
                ("bucket_start", models.DateTimeField()),
                (
                    "breakdown",
                    models.CharField(
                        choices=[
                            ("total", "total"),
                            ("model", "model"),
                            ("app", "app"),
                            ("agent", "agent"),
                            ("agent_model", "agent and model"),
                            ("agent_app", "agent and app"),
                            ("user", "end user"),
                        ],
                        max_length=12,
                    ),
                ),
                ("agent_id", models.CharField(blank=True, default="", max_length=32)),
                (
                    "value",
                    models.CharField(
                        blank=True, default="", help_text="model (as sent), app id or end user", max_length=320
                    ),
                ),
                ("requests", models.PositiveIntegerField(default=0)),
                ("errors", models.PositiveIntegerField(default=0)),
                ("prompt_tokens", models.PositiveBigIntegerField(default=0)),
                ("completion_tokens", models.PositiveBigIntegerField(default=0)),
                ("cost_usd", models.DecimalField(decimal_places=8, default=0, max_digits=20)),
                ("latency_p50_ms", models.PositiveIntegerField(blank=True, null=True)),
                ("latency_p95_ms", models.PositiveIntegerField(blank=True, null=True)),
                (
                    "latency_counts",
                    models.TextField(blank=True, default="", help_text='JSON {"<whole ms>": count}'),
                ),
                ("latency_pages", models.BinaryField(blank=True, null=True)),
                ("through_seq", models.PositiveBigIntegerField(default=0)),
                ("computed_at", models.DateTimeField()),
            ],
            options={
                "ordering": ["tenant_id", "breakdown", "span", "bucket_start"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("tenant_id", "breakdown", "span", "bucket_start", "agent_id", "value"),
                        name="rollup_unique_cell",
                    )
                ],
            },
        ),
        migrations.AddField(
            model_name="usagerollupstate",
            name="closed_until",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(watermarks_reset, migrations.RunPython.noop),
    ]
