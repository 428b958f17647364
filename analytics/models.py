"""Usage rollups built from the forensic record, and compliance reports (SPEC 5.8).

Rollups are derived data: a pure function of the sealed records of one tenant up to a chain
position (``through_seq``), rebuilt bucket by bucket, so running a rollup twice changes
nothing. Like the records, they hold plain ids rather than foreign keys.
"""

from __future__ import annotations

from django.db import models

from core.ids import IdFactory
from core.models import TenantOwned


class Breakdown(models.TextChoices):
    """What a rollup row is a total of: everything, or one model, app, agent, agent and model…"""

    TOTAL = "total", "total"
    MODEL = "model", "model"
    APP = "app", "app"
    AGENT = "agent", "agent"
    AGENT_MODEL = "agent_model", "agent and model"
    AGENT_APP = "agent_app", "agent and app"
    USER = "user", "end user"


class UsageRollup(models.Model):
    """Usage of one tenant in one block of time, for one cell of one breakdown.

    A block is ``[bucket_start, bucket_start + span hours)`` (``analytics.buckets``). A cell is
    identified by ``agent_id`` (breakdowns ``agent``, ``agent_model``, ``agent_app``) and
    ``value`` (the model, app or end user the breakdown is by); a dimension a request did not
    have is stored as "". There is no cell of app, agent, user and model together: usage answers read
    the breakdown they group by, so a 30-day answer reads a few rows per group.

    Holds exactly the tenant's records of its block and cell whose chain position is at most
    ``through_seq`` (every row of one block and breakdown shares it). Latencies are a histogram
    of whole milliseconds in one of two encodings (``analytics.latency``): ``latency_counts``
    (JSON) for small histograms, ``latency_pages`` for rows built from finer rows and for the
    busy rows built from records (SQL writes JSON; the rollup run encodes them again).
    p50 and p95 are stored so that a group made of one row needs no histogram at all. The
    primary key is an integer: rows are internal and never leave the process by id.
    """

    tenant_id = models.CharField(max_length=32)
    span = models.PositiveSmallIntegerField(help_text="hours: 1, 2, 4, 8, 24, 48, 96, 192, 384 or 768")
    bucket_start = models.DateTimeField()
    breakdown = models.CharField(max_length=12, choices=Breakdown.choices)
    agent_id = models.CharField(max_length=32, blank=True, default="")
    value = models.CharField(max_length=320, blank=True, default="", help_text="model (as sent), app id or end user")
    requests = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    # Requests whose model had no price: their cost is not in ``cost_usd``.
    unpriced_requests = models.PositiveIntegerField(default=0)
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=20, decimal_places=8, default=0)
    latency_p50_ms = models.PositiveIntegerField(null=True, blank=True)
    latency_p95_ms = models.PositiveIntegerField(null=True, blank=True)
    latency_counts = models.TextField(blank=True, default="", help_text='JSON {"<whole ms>": count}')
    latency_pages = models.BinaryField(null=True, blank=True)
    through_seq = models.PositiveBigIntegerField(default=0)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["tenant_id", "breakdown", "span", "bucket_start"]
        constraints = [
            # Also the only index, on purpose: every read and write names the breakdown, and the
            # planner must not prefer a (tenant, block) index that would scan every breakdown.
            models.UniqueConstraint(
                fields=["tenant_id", "breakdown", "span", "bucket_start", "agent_id", "value"],
                name="rollup_unique_cell",
            )
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id} {self.breakdown} {self.span}h {self.bucket_start:%Y-%m-%dT%H}"


class UsageRollupState(models.Model):
    """How far one tenant's chain is folded into rollups; its row is the tenant's rollup lock.

    Every 1-hour block holding records up to ``through_seq`` has its rows; coarser blocks
    (and the day blocks of the agent and end-user breakdowns) have theirs exactly when they
    end at or before ``closed_until``.
    """

    tenant_id = models.CharField(primary_key=True, max_length=32)
    through_seq = models.PositiveBigIntegerField(default=0)
    closed_until = models.DateTimeField(null=True, blank=True)
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
