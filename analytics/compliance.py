"""Compliance findings computed from a tenant's own data (SPEC 5.8).

Each *check* gathers one body of evidence — record-keeping, the audit chain, retention, risk
controls, transparency, human oversight, key hygiene — and judges it ``pass``, ``attention``
or ``fail``. Each framework maps its controls onto the same checks, so an EU AI Act, a SOC 2
and a NIST AI RMF report of one window agree on the facts and differ only in the control
each fact is evidence for. Evidence holds figures and ids, never a secret.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Count, Q
from django.utils import timezone

from analytics.models import FindingStatus, Framework
from apps.models import App, GuardrailPolicy, PiiMode, Policy
from forensics.models import AuditCheckpoint, CheckpointKind, Event, RequestLog
from forensics.sealing import audit_chain_verify
from identity.models import Agent, AgentStatus
from keys.models import Key, OrgKey
from providers.models import Provider
from tenants.models import Membership, Tenant

# A record should be sealed within seconds (SPEC 6); one still unsealed after this long
# means the sealer is not running, and the record is not tamper-evident yet.
SEAL_DEADLINE = timedelta(seconds=60)
# EU AI Act Art. 19(1) and 26(6): logs kept for at least six months.
MINIMUM_RETENTION_DAYS = 183
ROTATION_PERIOD = timedelta(days=90)
EXPIRY_WARNING = timedelta(days=14)
UNUSED_AFTER = timedelta(days=30)
# Evidence lists of ids are cut here (their counts are always complete).
MAX_IDS = 50

PASS, ATTENTION, FAIL = FindingStatus.PASS, FindingStatus.ATTENTION, FindingStatus.FAIL


@dataclass(frozen=True, slots=True)
class Scope:
    """What a check looks at: one tenant, a window of records, and the moment of the report."""

    tenant_id: str
    since: datetime
    until: datetime
    now: datetime

    def records(self):
        window = {"created_at__gte": self.since, "created_at__lt": self.until}
        return RequestLog.objects.filter(tenant_id=self.tenant_id, **window)

    def events(self):
        return Event.objects.filter(tenant_id=self.tenant_id, created_at__gte=self.since, created_at__lt=self.until)


@dataclass(frozen=True, slots=True)
class CheckResult:
    status: str
    evidence: dict[str, Any]


def _stamp(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def _ids(values) -> list[str]:
    return sorted(values)[:MAX_IDS]


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


# --- the checks ---


def record_keeping_check(scope: Scope) -> CheckResult:
    """Every request is recorded and sealed into the tenant's chain within the deadline."""
    records = scope.records()
    figures = records.aggregate(
        records=Count("id"),
        sealed=Count("id", filter=Q(sealed_at__isnull=False)),
        overdue=Count("id", filter=Q(sealed_at__isnull=True, created_at__lt=scope.now - SEAL_DEADLINE)),
        with_agent=Count("id", filter=Q(agent_id__isnull=False)),
        with_end_user=Count("id", filter=Q(user__isnull=False)),
    )
    by_credential = Counter(
        {credential or "none": n for credential, n in records.values_list("credential").annotate(n=Count("id"))}
    )
    total = figures["records"]
    evidence = {
        "records": total,
        "sealed": figures["sealed"],
        "unsealed": total - figures["sealed"],
        "unsealed_past_deadline": figures["overdue"],
        "seal_deadline_seconds": int(SEAL_DEADLINE.total_seconds()),
        "sealed_share": _share(figures["sealed"], total),
        "with_agent": figures["with_agent"],
        "with_end_user": figures["with_end_user"],
        "by_credential": dict(sorted(by_credential.items())),
    }
    if figures["overdue"]:
        return CheckResult(FAIL, evidence)
    return CheckResult(ATTENTION if total == 0 else PASS, evidence)


def audit_chain_check(scope: Scope) -> CheckResult:
    """The whole chain verifies: no record changed, removed or reordered; checkpoints signed."""
    verdict = audit_chain_verify(tenant_id=scope.tenant_id)
    checkpoints = AuditCheckpoint.objects.filter(tenant_id=scope.tenant_id)
    last = checkpoints.order_by("-seq", "-created_at").values("seq", "created_at").first()
    evidence = {
        "valid": verdict.valid,
        "records_checked": verdict.checked,
        "first_invalid": verdict.first_invalid,
        "problem": verdict.problem,
        "checkpoints": checkpoints.filter(kind=CheckpointKind.SEAL).count(),
        "prune_checkpoints": checkpoints.filter(kind=CheckpointKind.PRUNE).count(),
        "last_checkpoint_seq": last["seq"] if last else None,
        "last_checkpoint_at": _stamp(last["created_at"]) if last else None,
    }
    if not verdict.valid:
        return CheckResult(FAIL, evidence)
    return CheckResult(ATTENTION if verdict.checked == 0 else PASS, evidence)


def log_retention_check(scope: Scope) -> CheckResult:
    """Records are kept at least six months, and expiring them is itself recorded."""
    tenant = Tenant.objects.get(pk=scope.tenant_id)
    oldest = RequestLog.objects.filter(tenant_id=scope.tenant_id).order_by("created_at").values("created_at").first()
    prunes = scope.events().filter(action="logs.pruned")
    evidence = {
        "retention_days": tenant.log_retention_days,
        "minimum_days": MINIMUM_RETENTION_DAYS,
        "oldest_record_at": _stamp(oldest["created_at"]) if oldest else None,
        "prunes_in_window": prunes.count(),
        "records_pruned_in_window": sum(
            (changes.get("records") or {}).get("before") or 0 for changes in prunes.values_list("changes", flat=True)
        ),
    }
    return CheckResult(PASS if tenant.log_retention_days >= MINIMUM_RETENTION_DAYS else FAIL, evidence)


def _guarded(guardrails: GuardrailPolicy | None) -> bool:
    if guardrails is None:
        return False
    return bool(guardrails.blocked_patterns or guardrails.pii != PiiMode.OFF or guardrails.max_prompt_chars)


def risk_controls_check(scope: Scope) -> CheckResult:
    """Policies and guardrails in force over every app, and what they refused in the window."""
    policies = Policy.objects.for_tenant(scope.tenant_id)
    enabled = policies.filter(enabled=True)
    tenant_wide = enabled.filter(tenant_wide=True).exists()
    apps = list(App.objects.for_tenant(scope.tenant_id).only("id"))
    guarded = {g.app_id for g in GuardrailPolicy.objects.filter(tenant_id=scope.tenant_id) if _guarded(g)}
    with_policy = set(enabled.filter(apps__isnull=False).values_list("apps", flat=True))
    uncovered = [app.id for app in apps if app.id not in guarded and app.id not in with_policy and not tenant_wide]
    refusals = scope.records().filter(status_code__gte=400, status_code__lt=500)
    by_reason = Counter(
        {
            reason or code or "unknown": n
            for reason, code, n in refusals.values_list("error_reason", "error_code").annotate(n=Count("id"))
        }
    )
    evidence = {
        "policies_enabled": enabled.count(),
        "policies_disabled": policies.filter(enabled=False).count(),
        "tenant_wide_policies": enabled.filter(tenant_wide=True).count(),
        "agent_policies": enabled.filter(agents__isnull=False).distinct().count(),
        "apps": len(apps),
        "apps_with_guardrails": len(guarded),
        "apps_with_policy": len(with_policy) if not tenant_wide else len(apps),
        "apps_without_controls": _ids(uncovered),
        "agents_with_model_allowlist": Agent.objects.for_tenant(scope.tenant_id)
        .filter(deleted_at=None, allowed_models__isnull=False)
        .count(),
        "refusals": sum(by_reason.values()),
        "refusals_by_reason": dict(by_reason.most_common()),
    }
    if not enabled.exists() and not guarded:
        return CheckResult(FAIL, evidence)
    return CheckResult(ATTENTION if uncovered else PASS, evidence)


def transparency_check(scope: Scope) -> CheckResult:
    """Which models, from which providers, each app used; every answer attributable to both."""
    records = scope.records()
    per_app: dict[str | None, dict[str, Any]] = defaultdict(
        lambda: {"requests": 0, "models": Counter(), "providers": Counter()}
    )
    triples = records.values_list("app_id", "model_resolved", "model_requested", "provider_id").annotate(n=Count("id"))
    for app_id, resolved, requested, provider_id, n in triples:
        entry = per_app[app_id]
        entry["requests"] += n
        entry["models"][resolved or requested or "unknown"] += n
        if provider_id:
            entry["providers"][provider_id] += n
    used = {provider_id for entry in per_app.values() for provider_id in entry["providers"]}
    providers = {p.id: p for p in Provider.objects.for_tenant(scope.tenant_id).filter(pk__in=used)}
    names = dict(App.objects.for_tenant(scope.tenant_id).values_list("id", "name"))
    answered = records.filter(status_code__lt=400)
    unattributed = answered.filter(Q(provider_id__isnull=True) | Q(model_resolved__isnull=True))
    apps = []
    for app_id, entry in sorted(per_app.items(), key=lambda item: -item[1]["requests"]):
        apps.append(
            {
                "app_id": app_id,
                "app_name": names.get(app_id),
                "requests": entry["requests"],
                "models": dict(entry["models"].most_common()),
                "providers": [
                    {
                        "provider_id": provider_id,
                        "name": providers[provider_id].name if provider_id in providers else None,
                        "kind": providers[provider_id].kind if provider_id in providers else None,
                        "requests": n,
                    }
                    for provider_id, n in entry["providers"].most_common()
                ],
            }
        )
    unknown_providers = sorted(used - set(providers))
    # Models used without a price (docs/providers.md → Prices): their spend is not accounted.
    unpriced = Counter()
    for resolved, requested, n in (
        records.filter(cost_usd__isnull=True).values_list("model_resolved", "model_requested").annotate(n=Count("id"))
    ):
        unpriced[resolved or requested or "unknown"] += n
    evidence = {
        "requests": sum(e["requests"] for e in per_app.values()),
        "apps": apps,
        "answers_without_model_or_provider": unattributed.count(),
        "providers_no_longer_configured": _ids(unknown_providers),
        "unpriced_requests": sum(unpriced.values()),
        "unpriced_models": dict(unpriced.most_common(MAX_IDS)),
    }
    if evidence["requests"] == 0 or evidence["answers_without_model_or_provider"] or unknown_providers:
        return CheckResult(ATTENTION, evidence)
    return CheckResult(PASS, evidence)


def human_oversight_check(scope: Scope) -> CheckResult:
    """Every agent has a named human owner; suspensions show oversight being exercised."""
    agents = Agent.objects.for_tenant(scope.tenant_id).filter(deleted_at=None)
    unowned = set(agents.filter(owner_email="").values_list("id", flat=True))
    active = set(scope.records().filter(agent_id__in=unowned).values_list("agent_id", flat=True).distinct())
    events = scope.events().filter(object_type="agent")
    evidence = {
        "agents": agents.count(),
        "agents_with_owner": agents.exclude(owner_email="").count(),
        "owners": agents.exclude(owner_email="").values("owner_email").distinct().count(),
        "agents_without_owner": _ids(unowned),
        "unowned_agents_with_traffic": _ids(active),
        "suspended_now": agents.filter(status=AgentStatus.SUSPENDED).count(),
        "suspensions_in_window": events.filter(action="agent.suspended").count(),
        "reactivations_in_window": events.filter(action="agent.reactivated").count(),
        "agents_suspended_in_window": _ids(
            set(events.filter(action="agent.suspended").values_list("object_id", flat=True))
        ),
    }
    if active:
        return CheckResult(FAIL, evidence)
    return CheckResult(ATTENTION if unowned or not evidence["agents"] else PASS, evidence)


def _active(credentials, now: datetime):
    return credentials.filter(Q(revoked_at__isnull=True) | Q(revoked_at__gt=now)).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    )


def _unused(credentials, now: datetime):
    """Not used for ``UNUSED_AFTER``; never-used credentials count from their creation."""
    cutoff = now - UNUSED_AFTER
    return credentials.filter(Q(last_used_at__lt=cutoff) | Q(last_used_at__isnull=True, created_at__lt=cutoff))


def key_hygiene_check(scope: Scope) -> CheckResult:
    """Credentials are short-lived, rotated, in use, and management keys are held by role."""
    now = scope.now
    keys = _active(Key.objects.for_tenant(scope.tenant_id).filter(agent__deleted_at=None), now)
    org_keys = _active(OrgKey.objects.for_tenant(scope.tenant_id), now)
    stale = set(keys.filter(created_at__lt=now - ROTATION_PERIOD).values_list("id", flat=True))
    near_expiry = set(keys.filter(expires_at__lte=now + EXPIRY_WARNING).values_list("id", flat=True))
    unused = set(_unused(keys, now).values_list("id", flat=True))
    no_expiry = set(keys.filter(expires_at__isnull=True).values_list("id", flat=True))
    org_unused = set(_unused(org_keys, now).values_list("id", flat=True))
    org_stale = set(org_keys.filter(created_at__lt=now - ROTATION_PERIOD).values_list("id", flat=True))
    evidence = {
        "as_of": _stamp(now),
        "rotation_period_days": ROTATION_PERIOD.days,
        "expiry_warning_days": EXPIRY_WARNING.days,
        "unused_after_days": UNUSED_AFTER.days,
        "agent_keys_active": keys.count(),
        "agent_keys_older_than_rotation_period": _ids(stale),
        "agent_keys_near_expiry": _ids(near_expiry),
        "agent_keys_unused": _ids(unused),
        "agent_keys_without_expiry": _ids(no_expiry),
        "org_keys_by_role": dict(org_keys.values_list("role").annotate(n=Count("id")).order_by("role")),
        "org_keys_unused": _ids(org_unused),
        "org_keys_older_than_rotation_period": _ids(org_stale),
        "console_members_by_role": dict(
            Membership.objects.filter(tenant_id=scope.tenant_id)
            .values_list("role")
            .annotate(n=Count("id"))
            .order_by("role")
        ),
    }
    if stale or no_expiry:
        return CheckResult(FAIL, evidence)
    return CheckResult(ATTENTION if near_expiry or unused or org_unused or org_stale else PASS, evidence)


Check = Callable[[Scope], CheckResult]

# framework -> [(control, title, check)], in the order a report lists them.
FRAMEWORK_CONTROLS: dict[str, list[tuple[str, str, Check]]] = {
    Framework.EU_AI_ACT: [
        ("EU AI Act Art. 12", "Record-keeping: every request is logged and sealed", record_keeping_check),
        ("EU AI Act Art. 12", "Record-keeping: the tamper-evident audit chain verifies", audit_chain_check),
        ("EU AI Act Art. 19, Art. 26(6)", "Logs are kept for at least six months", log_retention_check),
        ("EU AI Act Art. 9", "Risk management: controls in force and refusals by reason", risk_controls_check),
        ("EU AI Act Art. 13", "Transparency: models and providers used per app", transparency_check),
        ("EU AI Act Art. 14", "Human oversight: named owners and suspensions of agents", human_oversight_check),
        ("EU AI Act Art. 15", "Cybersecurity: credential hygiene", key_hygiene_check),
    ],
    Framework.SOC2: [
        ("SOC 2 CC7.2", "Monitoring: every request is logged and sealed", record_keeping_check),
        ("SOC 2 CC7.2", "Monitoring: the audit log is tamper-evident and verifies", audit_chain_check),
        ("SOC 2 CC6.1, CC6.2, CC6.3", "Logical access: key expiry, use, rotation and roles", key_hygiene_check),
        ("SOC 2 CC5.2", "Control activities: policies and guardrails in force", risk_controls_check),
        ("SOC 2 CC1.3", "Responsibility: every agent has a named human owner", human_oversight_check),
        ("SOC 2 CC9.2", "Vendors: models and providers used per app", transparency_check),
        ("SOC 2 C1.2", "Retention: logs kept six months and disposed of on record", log_retention_check),
    ],
    Framework.NIST_AI_RMF: [
        ("NIST AI RMF GOVERN 1.5", "Monitoring records are retained for review", log_retention_check),
        ("NIST AI RMF GOVERN 2.1", "Roles: every agent has a named human owner", human_oversight_check),
        ("NIST AI RMF MAP 4.1", "Third-party models and providers mapped per app", transparency_check),
        ("NIST AI RMF MEASURE 2.4", "Production behaviour is monitored: every request logged", record_keeping_check),
        ("NIST AI RMF MEASURE 2.7", "Security: credential hygiene", key_hygiene_check),
        ("NIST AI RMF MEASURE 2.8", "Accountability: the audit chain verifies", audit_chain_check),
        ("NIST AI RMF MANAGE 1.3", "Risk responses: controls in force and refusals", risk_controls_check),
        ("NIST AI RMF MANAGE 2.4", "Agents can be and are suspended by their owners", human_oversight_check),
    ],
}


def report_findings(
    *, tenant_id: str, framework: str, since: datetime, until: datetime, now: datetime | None = None
) -> list[dict[str, Any]]:
    """The findings of one framework: ``[{control, title, status, evidence}]``, each check run once."""
    scope = Scope(tenant_id=tenant_id, since=since, until=until, now=now or timezone.now())
    results: dict[Check, CheckResult] = {}
    findings = []
    for control, title, check in FRAMEWORK_CONTROLS[framework]:
        if check not in results:
            results[check] = check(scope)
        result = results[check]
        findings.append({"control": control, "title": title, "status": result.status, "evidence": result.evidence})
    return findings
