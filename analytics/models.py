"""Usage rollups built from the forensic record, and compliance reports (SPEC 5.8).

Rollups are derived data: a pure function of the sealed records of one tenant up to a chain
position (``through_seq``), rebuilt bucket by bucket, so running a rollup twice changes
nothing. Like the records, they hold plain ids rather than foreign keys.
"""

from __future__ import annotations

from django.db import models

from core.ids import IdFactory
from core.models import TenantOwned


class Granularity(models.TextChoices):
    HOUR = "hour", "hour"
    DAY = "day", "day"


class UsageRollup(models.Model):
    """Usage of one tenant, app, agent, end user and requested model in one UTC hour or day.

    Holds exactly the tenant's records of its bucket whose chain position is at most
    ``through_seq`` (every row of one bucket shares it). Absent dimensions are stored as ""
    so that the unique constraint holds (NULLs never collide). Latencies are kept as a
    histogram of whole milliseconds, which merges exactly across buckets. The primary key is
    an integer: rows are internal and never leave the process by id.
    """

    tenant_id = models.CharField(max_length=32)
    granularity = models.CharField(max_length=4, choices=Granularity.choices)
    bucket_start = models.DateTimeField()
    app_id = models.CharField(max_length=32, blank=True, default="")
    agent_id = models.CharField(max_length=32, blank=True, default="")
    user = models.CharField(max_length=320, blank=True, default="")
    model = models.CharField(max_length=200, blank=True, default="", help_text="the model name the client sent")
    requests = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    errors_by_code = models.JSONField(default=dict, blank=True)
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=20, decimal_places=8, default=0)
    latency_histogram = models.JSONField(default=dict, blank=True, help_text='{"<whole ms>": count}')
    through_seq = models.PositiveBigIntegerField(default=0)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["tenant_id", "granularity", "bucket_start"]
        indexes = [
            models.Index(fields=["tenant_id", "granularity", "bucket_start"], name="rollup_tenant_bucket"),
            models.Index(fields=["tenant_id", "agent_id", "granularity", "bucket_start"], name="rollup_agent_bucket"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant_id", "granularity", "bucket_start", "app_id", "agent_id", "user", "model"],
                name="rollup_unique_cell",
            )
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id} {self.granularity} {self.bucket_start:%Y-%m-%dT%H}"


class UsageRollupState(models.Model):
    """How far one tenant's chain is folded into rollups; its row is the tenant's rollup lock."""

    tenant_id = models.CharField(primary_key=True, max_length=32)
    through_seq = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.tenant_id}@{self.through_seq}"


class Framework(models.TextChoices):
    EU_AI_ACT = "eu_ai_act", "EU AI Act"
    SOC2 = "soc2", "SOC 2"
    NIST_AI_RMF = "nist_ai_rmf", "NIST AI RMF"


class ReportStatus(models.TextChoices):
    PENDING = "pending", "pending"
    READY = "ready", "ready"
    FAILED = "failed", "failed"


class FindingStatus(models.TextChoices):
    PASS = "pass", "pass"
    ATTENTION = "attention", "attention"
    FAIL = "fail", "fail"


class Report(TenantOwned):
    """A compliance report of one tenant over ``[since, until)``, built by a background worker.

    ``findings`` is a list of ``{control, title, status, evidence}`` computed from the
    tenant's records, configuration and event trail when the report was built.
    """

    id = models.CharField(primary_key=True, max_length=32, default=IdFactory("rpt"), editable=False)
    framework = models.CharField(max_length=16, choices=Framework.choices)
    since = models.DateTimeField()
    until = models.DateTimeField()
    status = models.CharField(max_length=8, choices=ReportStatus.choices, default=ReportStatus.PENDING)
    findings = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True, default="")
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "created_at"], name="report_tenant_time")]

    def __str__(self) -> str:
        return f"{self.get_framework_display()} {self.since:%Y-%m-%d}..{self.until:%Y-%m-%d} ({self.status})"
