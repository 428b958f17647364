"""Writes of apps, their guardrails, and policies."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.models import App, GuardrailPolicy, JwtRevocation, Policy
from core.actors import Actor
from core.errors import invalid_request
from core.model_changes import model_update, snapshot
from forensics.services import event_record, update_recorded
from identity.models import Agent

APP_FIELDS = [
    "name", "slug", "description", "is_default", "key_name", "key_location", "identity_header_mode",
    "enforce_identity", "allowed_user_domains", "scope_prefix", "jwt", "capture_bodies", "body_capture_max_bytes",
]  # fmt: skip
GUARDRAIL_FIELDS = ["blocked_patterns", "pii", "max_prompt_chars"]
POLICY_FIELDS = [
    "name", "enabled", "timezone", "tenant_wide", "allowed_models", "allowed_endpoints", "requests_per_minute",
    "tokens_per_minute", "max_concurrent_requests", "user_requests_per_minute", "daily_token_budget",
    "monthly_token_budget", "user_daily_token_budget", "max_tokens_per_request", "allowed_hours",
]  # fmt: skip


def _slug_check(slug: str, *, exclude_id: str | None = None) -> None:
    # Slugs are platform-wide URL paths; the message must not reveal which tenant owns one.
    if App.objects.filter(slug=slug).exclude(pk=exclude_id).exists():
        raise invalid_request(f"the slug {slug!r} is taken", "slug_taken")


def _default_unset_others(app: App) -> None:
    """Making an app the default demotes the previous default (one default per tenant)."""
    if app.is_default:
        App.objects.for_tenant(app.tenant_id).filter(is_default=True).exclude(pk=app.pk).update(is_default=False)


@transaction.atomic
def app_create(*, tenant_id: str, actor: Actor, name: str, slug: str, **fields: Any) -> App:
    unknown = set(fields) - set(APP_FIELDS)
    if unknown:
        raise TypeError(f"unknown app fields: {unknown}")
    _slug_check(slug)
    app = App(tenant_id=tenant_id, name=name, slug=slug, **fields)
    app.full_clean(validate_constraints=False)
    _default_unset_others(app)
    app.save()
    GuardrailPolicy.objects.create(app=app, tenant_id=tenant_id)
    event_record(app, actor=actor, action="app.created", changes=snapshot(app, APP_FIELDS))
    return app


@transaction.atomic
def app_update(*, app: App, actor: Actor, data: dict[str, Any]) -> App:
    if "slug" in data and data["slug"] != app.slug:
        _slug_check(data["slug"], exclude_id=app.pk)
    if data.get("is_default"):
        App.objects.for_tenant(app.tenant_id).filter(is_default=True).exclude(pk=app.pk).update(is_default=False)
    update_recorded(app, data, fields=APP_FIELDS, actor=actor, action="app.updated")
    return app


@transaction.atomic
def app_delete(*, app: App, actor: Actor) -> None:
    event_record(app, actor=actor, action="app.deleted", changes={"slug": {"before": app.slug, "after": None}})
    app.delete()


def guardrails_get(*, app: App) -> GuardrailPolicy:
    guardrails, _ = GuardrailPolicy.objects.get_or_create(app=app, defaults={"tenant_id": app.tenant_id})
    return guardrails


@transaction.atomic
def guardrails_put(*, app: App, actor: Actor, data: dict[str, Any]) -> GuardrailPolicy:
    """Replace the whole object: a field left out takes its default (SPEC 3.5)."""
    guardrails = guardrails_get(app=app)
    full = {"blocked_patterns": [], "pii": "off", "max_prompt_chars": None} | data
    update_recorded(guardrails, full, fields=GUARDRAIL_FIELDS, actor=actor, action="guardrails.updated")
    return guardrails


def _policy_targets(tenant_id: str, app_ids: list[str] | None, agent_ids: list[str] | None) -> tuple[list, list]:
    apps = list(App.objects.for_tenant(tenant_id).filter(pk__in=app_ids or []))
    agents = list(Agent.objects.for_tenant(tenant_id).filter(pk__in=agent_ids or [], deleted_at=None))
    if len(apps) != len(set(app_ids or [])):
        raise ValidationError({"app_ids": "names an app that does not exist"})
    if len(agents) != len(set(agent_ids or [])):
        raise ValidationError({"agent_ids": "names an agent that does not exist"})
    return apps, agents


@transaction.atomic
def policy_create(
    *, tenant_id: str, actor: Actor, name: str, app_ids: list[str] | None = None,
    agent_ids: list[str] | None = None, **fields: Any,
) -> Policy:  # fmt: skip
    unknown = set(fields) - set(POLICY_FIELDS)
    if unknown:
        raise TypeError(f"unknown policy fields: {unknown}")
    apps, agents = _policy_targets(tenant_id, app_ids, agent_ids)
    policy = Policy(tenant_id=tenant_id, name=name, **fields)
    policy.full_clean()
    policy.save()
    policy.apps.set(apps)
    policy.agents.set(agents)
    changes = snapshot(policy, POLICY_FIELDS)
    changes["app_ids"] = {"before": None, "after": [a.pk for a in apps]}
    changes["agent_ids"] = {"before": None, "after": [a.pk for a in agents]}
    event_record(policy, actor=actor, action="policy.created", changes=changes)
    return policy


@transaction.atomic
def policy_update(*, policy: Policy, actor: Actor, data: dict[str, Any]) -> Policy:
    changes = model_update(policy, data, fields=POLICY_FIELDS)
    for field, relation in (("app_ids", "apps"), ("agent_ids", "agents")):
        if field in data:
            apps, agents = _policy_targets(
                policy.tenant_id,
                data.get("app_ids") if field == "app_ids" else [],
                data.get("agent_ids") if field == "agent_ids" else [],
            )
            targets = apps if field == "app_ids" else agents
            before = sorted(getattr(policy, relation).values_list("pk", flat=True))
            after = sorted(t.pk for t in targets)
            if before != after:
                getattr(policy, relation).set(targets)
                changes[field] = {"before": before, "after": after}
    if changes:
        event_record(policy, actor=actor, action="policy.updated", changes=changes)
        # M2M edits do not touch the row; bump it so caches keyed on updated_at see the change.
        policy.save(update_fields=["updated_at"])
    return policy


@transaction.atomic
def policy_delete(*, policy: Policy, actor: Actor) -> None:
    event_record(policy, actor=actor, action="policy.deleted", changes={"name": {"before": policy.name, "after": None}})
    policy.delete()


JWT_REVOCATION_DEFAULT_LIFETIME = timedelta(hours=24)
JWT_REVOCATION_MAX_LIFETIME = timedelta(days=30)
JWT_REVOCATION_MAX_NAME = 255


@transaction.atomic
def jwt_revocation_create(
    *, app: App, actor: Actor, jti: str | None = None, sub: str | None = None, expires_at: datetime | None = None
) -> JwtRevocation:
    """Revoke one token (``jti``) or a subject's tokens issued at or before now (``sub``).

    ``expires_at`` is when the entry may be forgotten: default 24 hours, at most 30 days."""
    if bool(jti) == bool(sub):
        raise ValidationError({"jti": "name exactly one of jti (one token) or sub (a subject's tokens)"})
    for name, value in (("jti", jti), ("sub", sub)):
        if value is not None and (not isinstance(value, str) or len(value) > JWT_REVOCATION_MAX_NAME):
            raise ValidationError({name: f"must be a string of at most {JWT_REVOCATION_MAX_NAME} characters"})
    now = timezone.now()
    if expires_at is None:
        expires_at = now + JWT_REVOCATION_DEFAULT_LIFETIME
    if expires_at <= now:
        raise ValidationError({"expires_at": "must be in the future"})
    if expires_at > now + JWT_REVOCATION_MAX_LIFETIME:
        raise ValidationError({"expires_at": "must be at most 30 days ahead"})
    revocation = JwtRevocation.objects.create(
        tenant_id=app.tenant_id, app=app, jti=jti or "", sub=sub or "", expires_at=expires_at
    )
    event_record(revocation, actor=actor, action="jwt_revocation.created", changes=_revocation_changes(revocation))
    return revocation


@transaction.atomic
def jwt_revocation_delete(*, revocation: JwtRevocation, actor: Actor) -> None:
    """Lift a revocation: the tokens it named work again (if otherwise valid)."""
    changes = {
        field: {"before": change["after"], "after": None} for field, change in _revocation_changes(revocation).items()
    }
    event_record(revocation, actor=actor, action="jwt_revocation.deleted", changes=changes)
    revocation.delete()


def _revocation_changes(revocation: JwtRevocation) -> dict[str, dict[str, Any]]:
    fields = {"app": revocation.app_id, "expires_at": revocation.expires_at.isoformat()}
    fields["jti" if revocation.jti else "sub"] = revocation.jti or revocation.sub
    return {name: {"before": None, "after": value} for name, value in fields.items()}


def jwt_revocations_prune(*, now: datetime | None = None) -> int:
    """Forget expired revocations, every tenant's (the periodic task). Not an event: nothing
    a person did, and an expired entry no longer refused anything."""
    expired = JwtRevocation.objects.filter(expires_at__lte=now or timezone.now())
    deleted = 0
    for tenant_id in expired.values_list("tenant_id", flat=True).distinct():
        # Per tenant, through the model's delete signals, so each tenant's generation moves.
        with transaction.atomic():
            deleted += expired.filter(tenant_id=tenant_id).delete()[0]
    return deleted
