"""Compliance findings (SPEC 5.8): each check passes on good evidence and fails or asks for
attention on bad, and every framework maps the same evidence to its own controls."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from analytics.compliance import (
    FRAMEWORK_CONTROLS,
    audit_chain_check,
    human_oversight_check,
    key_hygiene_check,
    log_retention_check,
    record_keeping_check,
    report_findings,
    risk_controls_check,
    transparency_check,
)
from apps.services import guardrails_put
from core.actors import SYSTEM
from forensics.models import RequestLog
from forensics.sealing import audit_retention_apply, audit_seal_all
from identity.services import agent_update
from keys.models import Key, OrgKey
from tenants.models import Tenant
from tests import factories
from tests.analytics.support import record

pytestmark = pytest.mark.django_db


def finding(tenant, check, framework: str = "eu_ai_act") -> dict:
    """The finding ``check`` gives in a report of the last day."""
    now = timezone.now()
    findings = report_findings(
        tenant_id=tenant.id, framework=framework, since=now - timedelta(days=1), until=now + timedelta(minutes=1)
    )
    checks = [c for _, _, c in FRAMEWORK_CONTROLS[framework]]
    return findings[checks.index(check)]


def recent(tenant, **fields):
    return record(tenant.id, timezone.now() - timedelta(minutes=5), **fields)


# --- record-keeping (EU AI Act Art. 12, SOC 2 CC7.2) ---


def test_it_passes_record_keeping_when_every_record_is_sealed(tenant):
    recent(tenant, user="ann@example.com", agent_id="ag_1", credential="key")
    recent(tenant)
    audit_seal_all()

    result = finding(tenant, record_keeping_check)

    assert (result["control"], result["status"]) == ("EU AI Act Art. 12", "pass")
    assert result["evidence"] | {"by_credential": None} == {
        "records": 2, "sealed": 2, "unsealed": 0, "unsealed_past_deadline": 0, "seal_deadline_seconds": 60,
        "sealed_share": 1.0, "with_agent": 1, "with_end_user": 1, "by_credential": None,
    }  # fmt: skip
    assert result["evidence"]["by_credential"] == {"key": 1, "none": 1}


def test_it_fails_record_keeping_when_records_stay_unsealed(tenant):
    recent(tenant)

    result = finding(tenant, record_keeping_check)

    assert result["status"] == "fail"
    assert result["evidence"]["unsealed_past_deadline"] == 1


def test_it_asks_attention_for_record_keeping_without_records(tenant):
    assert finding(tenant, record_keeping_check)["status"] == "attention"


# --- audit chain (EU AI Act Art. 12, SOC 2 CC7.2) ---


def test_it_passes_the_audit_chain_when_it_verifies(tenant):
    recent(tenant)
    recent(tenant)
    audit_seal_all()

    result = finding(tenant, audit_chain_check)

    assert result["status"] == "pass"
    assert (result["evidence"]["valid"], result["evidence"]["records_checked"]) == (True, 2)
    assert result["evidence"]["last_checkpoint_seq"] == 2


def test_it_fails_the_audit_chain_when_a_sealed_record_was_changed(tenant):
    first = recent(tenant)
    recent(tenant)
    audit_seal_all()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE forensics_requestlog DISABLE TRIGGER USER")
        cursor.execute("UPDATE forensics_requestlog SET prompt_tokens = 999 WHERE id = %s", [first.id])
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE forensics_requestlog ENABLE TRIGGER USER")

    result = finding(tenant, audit_chain_check, "soc2")

    assert (result["control"], result["status"]) == ("SOC 2 CC7.2", "fail")
    assert (result["evidence"]["valid"], result["evidence"]["first_invalid"]) == (False, first.id)


# --- retention (EU AI Act Art. 19, 26(6)) ---


def test_it_passes_retention_of_six_months_or_more(tenant):
    Tenant.objects.filter(pk=tenant.pk).update(log_retention_days=183)

    result = finding(tenant, log_retention_check)

    assert (result["control"], result["status"]) == ("EU AI Act Art. 19, Art. 26(6)", "pass")
    assert (result["evidence"]["retention_days"], result["evidence"]["minimum_days"]) == (183, 183)


def test_it_fails_retention_shorter_than_six_months(tenant):
    Tenant.objects.filter(pk=tenant.pk).update(log_retention_days=90)
    record(tenant.id, timezone.now() - timedelta(days=100))
    audit_seal_all()
    audit_retention_apply(tenant_id=tenant.id, retention_days=90)

    result = finding(tenant, log_retention_check)

    assert result["status"] == "fail"
    assert (result["evidence"]["prunes_in_window"], result["evidence"]["records_pruned_in_window"]) == (1, 1)


# --- risk controls (EU AI Act Art. 9) ---


def test_it_passes_risk_controls_over_every_app_and_counts_refusals(tenant):
    guarded = factories.make_app(tenant)
    guardrails_put(app=guarded, actor=SYSTEM, data={"pii": "redact"})
    limited = factories.make_app(tenant)
    factories.make_policy(tenant, app_ids=[limited.id], requests_per_minute=10)
    recent(tenant, status_code=429, error_code="rate_limited", error_reason="rpm")
    recent(tenant, status_code=429, error_code="rate_limited", error_reason="rpm")
    recent(tenant, status_code=400, error_code="guardrail_violation", error_reason="pii_detected")
    recent(tenant, status_code=502, error_code="upstream_error")

    result = finding(tenant, risk_controls_check)

    assert (result["control"], result["status"]) == ("EU AI Act Art. 9", "pass")
    evidence = result["evidence"]
    assert (evidence["policies_enabled"], evidence["apps"], evidence["apps_with_guardrails"]) == (1, 2, 1)
    assert evidence["apps_without_controls"] == []
    assert (evidence["refusals"], evidence["refusals_by_reason"]) == (3, {"rpm": 2, "pii_detected": 1})


def test_it_asks_attention_for_an_app_without_any_control(tenant):
    factories.make_policy(tenant, app_ids=[factories.make_app(tenant).id], requests_per_minute=10)
    bare = factories.make_app(tenant)

    result = finding(tenant, risk_controls_check)

    assert result["status"] == "attention"
    assert result["evidence"]["apps_without_controls"] == [bare.id]


def test_it_counts_a_tenant_wide_policy_for_every_app(tenant):
    factories.make_app(tenant)
    factories.make_policy(tenant, tenant_wide=True, requests_per_minute=10)

    assert finding(tenant, risk_controls_check)["status"] == "pass"


def test_it_fails_risk_controls_when_nothing_is_in_force(tenant):
    factories.make_app(tenant)
    factories.make_policy(tenant, tenant_wide=True, requests_per_minute=10, enabled=False)

    result = finding(tenant, risk_controls_check)

    assert result["status"] == "fail"
    assert (result["evidence"]["policies_enabled"], result["evidence"]["policies_disabled"]) == (0, 1)


# --- transparency (EU AI Act Art. 13) ---


def test_it_passes_transparency_when_every_answer_names_model_and_provider(tenant):
    app = factories.make_app(tenant, name="Support bot")
    provider = factories.make_provider(tenant, name="Mock one")
    recent(tenant, app_id=app.id, provider_id=provider.id, model_resolved="mock-1")
    recent(tenant, app_id=app.id, provider_id=provider.id, model_resolved="mock-1")
    recent(tenant, app_id=app.id, status_code=403, error_code="forbidden", model_resolved=None)

    result = finding(tenant, transparency_check)

    assert (result["control"], result["status"]) == ("EU AI Act Art. 13", "pass")
    assert result["evidence"]["apps"] == [
        {
            "app_id": app.id, "app_name": "Support bot", "requests": 3, "models": {"mock-1": 2, "gpt-4o-mini": 1},
            "providers": [{"provider_id": provider.id, "name": "Mock one", "kind": "mock", "requests": 2}],
        }
    ]  # fmt: skip


def test_it_asks_attention_for_answers_without_a_provider(tenant):
    recent(tenant, provider_id=None)

    result = finding(tenant, transparency_check)

    assert result["status"] == "attention"
    assert result["evidence"]["answers_without_model_or_provider"] == 1


def test_it_asks_attention_for_a_provider_no_longer_configured(tenant):
    recent(tenant, provider_id="prv_deleted0000000")

    result = finding(tenant, transparency_check)

    assert (result["status"], result["evidence"]["providers_no_longer_configured"]) == (
        "attention",
        ["prv_deleted0000000"],
    )


# --- human oversight (EU AI Act Art. 14) ---


def test_it_passes_oversight_when_every_agent_has_an_owner_and_counts_suspensions(tenant):
    agent = factories.make_agent(tenant, owner_email="owner@example.com")
    factories.make_agent(tenant, owner_email="owner@example.com")
    agent_update(agent=agent, actor=SYSTEM, data={"status": "suspended"})
    agent_update(agent=agent, actor=SYSTEM, data={"status": "active"})
    agent_update(agent=agent, actor=SYSTEM, data={"status": "suspended"})

    result = finding(tenant, human_oversight_check)

    assert (result["control"], result["status"]) == ("EU AI Act Art. 14", "pass")
    evidence = result["evidence"]
    assert (evidence["agents"], evidence["agents_with_owner"], evidence["owners"]) == (2, 2, 1)
    assert (evidence["suspensions_in_window"], evidence["reactivations_in_window"]) == (2, 1)
    assert (evidence["suspended_now"], evidence["agents_suspended_in_window"]) == (1, [agent.id])


def test_it_fails_oversight_when_an_agent_without_owner_made_requests(tenant):
    unowned = factories.make_agent(tenant)
    recent(tenant, agent_id=unowned.id)

    result = finding(tenant, human_oversight_check)

    assert result["status"] == "fail"
    assert result["evidence"]["unowned_agents_with_traffic"] == [unowned.id]


def test_it_asks_attention_for_an_idle_agent_without_owner(tenant):
    unowned = factories.make_agent(tenant)

    result = finding(tenant, human_oversight_check)

    assert (result["status"], result["evidence"]["agents_without_owner"]) == ("attention", [unowned.id])


# --- key hygiene (SOC 2 CC6) ---


def test_it_passes_key_hygiene_with_fresh_used_keys(tenant, agent):
    key, _ = factories.make_key(agent)
    Key.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
    factories.make_org_key(tenant, role="viewer")

    result = finding(tenant, key_hygiene_check, "soc2")

    assert (result["control"], result["status"]) == ("SOC 2 CC6.1, CC6.2, CC6.3", "pass")
    assert result["evidence"]["agent_keys_active"] == 1
    assert result["evidence"]["org_keys_by_role"] == {"admin": 1, "viewer": 1}


def test_it_fails_key_hygiene_for_a_key_older_than_the_rotation_period(tenant, agent):
    key, _ = factories.make_key(agent, expires_in_days=365)
    Key.objects.filter(pk=key.pk).update(created_at=timezone.now() - timedelta(days=100), last_used_at=timezone.now())

    result = finding(tenant, key_hygiene_check, "soc2")

    assert (result["status"], result["evidence"]["agent_keys_older_than_rotation_period"]) == ("fail", [key.id])


def test_it_asks_attention_for_keys_near_expiry_and_unused(tenant, agent):
    soon, _ = factories.make_key(agent, expires_in_days=7)
    idle, _ = factories.make_key(agent)
    Key.objects.filter(pk=idle.pk).update(created_at=timezone.now() - timedelta(days=40))
    Key.objects.filter(pk=soon.pk).update(last_used_at=timezone.now())

    result = finding(tenant, key_hygiene_check, "soc2")

    assert result["status"] == "attention"
    assert (result["evidence"]["agent_keys_near_expiry"], result["evidence"]["agent_keys_unused"]) == (
        [soon.id],
        [idle.id],
    )


def test_it_asks_attention_for_an_org_key_unused_for_a_month(tenant):
    OrgKey.objects.filter(tenant_id=tenant.id).update(created_at=timezone.now() - timedelta(days=45))

    result = finding(tenant, key_hygiene_check, "soc2")

    assert result["status"] == "attention"
    assert len(result["evidence"]["org_keys_unused"]) == 1


def test_it_ignores_revoked_and_expired_keys(tenant, agent):
    key, _ = factories.make_key(agent)
    Key.objects.filter(pk=key.pk).update(
        created_at=timezone.now() - timedelta(days=200), revoked_at=timezone.now() - timedelta(days=1)
    )

    assert finding(tenant, key_hygiene_check, "soc2")["status"] == "pass"


# --- the frameworks ---


def test_it_maps_every_check_in_every_framework():
    checks = {name: {check for _, _, check in controls} for name, controls in FRAMEWORK_CONTROLS.items()}

    assert checks["eu_ai_act"] == checks["soc2"] == checks["nist_ai_rmf"]
    assert len(checks["eu_ai_act"]) == 7


def test_it_maps_nist_evidence_to_govern_map_measure_and_manage():
    functions = {control.split()[3] for control, _, _ in FRAMEWORK_CONTROLS["nist_ai_rmf"]}

    assert functions == {"GOVERN", "MAP", "MEASURE", "MANAGE"}


def test_it_gives_the_same_status_for_the_same_evidence_in_every_framework(tenant):
    recent(tenant)
    statuses = {}
    for framework, controls in FRAMEWORK_CONTROLS.items():
        for (_, _, check), result in zip(controls, report_findings(
            tenant_id=tenant.id, framework=framework, since=timezone.now() - timedelta(days=1),
            until=timezone.now() + timedelta(minutes=1),
        ), strict=True):  # fmt: skip
            statuses.setdefault(check, set()).add((result["status"], str(sorted(result["evidence"]))))

    assert all(len(seen) == 1 for seen in statuses.values())


def test_it_reads_only_the_tenants_own_evidence(tenant, outsider):
    record(outsider.id, timezone.now() - timedelta(minutes=5))

    assert finding(tenant, record_keeping_check)["evidence"]["records"] == 0
    assert RequestLog.objects.filter(tenant_id=outsider.id).count() == 1
