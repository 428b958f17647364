"""Connects every configuration model's writes to the generation bump.

Signals are used here, and only here, because invalidation must follow every write path
(services, admin, shell, migrations) and is not business logic.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Now
from django.db.models.signals import m2m_changed, post_delete, post_save

from apps.models import App, GuardrailPolicy, JwtRevocation, Policy
from identity.models import Agent, IdentityKey
from keys.models import Key
from providers.models import Alias, ModelPrice, Provider
from proxy.config_generation import app_directory_bump, config_generation_bump, identity_keys_bump
from tenants.models import Tenant

CONFIG_MODELS = (App, GuardrailPolicy, JwtRevocation, Policy, Agent, Key, Provider, Alias, ModelPrice)


def _bump_after_commit(tenant_id: str | None) -> None:
    if tenant_id:
        # In the change's own transaction: gateways see it even if Redis cannot be told.
        Tenant.objects.filter(pk=tenant_id).update(config_version=F("config_version") + 1, config_changed_at=Now())
        transaction.on_commit(lambda: config_generation_bump(tenant_id))


def _on_change(sender, instance, **kwargs) -> None:
    _bump_after_commit(instance.pk if sender is Tenant else instance.tenant_id)
    if sender is App:
        transaction.on_commit(app_directory_bump)


for _model in (*CONFIG_MODELS, Tenant):
    post_save.connect(_on_change, sender=_model, dispatch_uid=f"cfg-save-{_model.__name__}")
    post_delete.connect(_on_change, sender=_model, dispatch_uid=f"cfg-delete-{_model.__name__}")
for _through in (Policy.apps.through, Policy.agents.through):
    m2m_changed.connect(
        lambda sender, instance, **kw: _bump_after_commit(getattr(instance, "tenant_id", None)),
        sender=_through,
        weak=False,
        dispatch_uid=f"cfg-m2m-{_through.__name__}",
    )


def _on_identity_key_change(sender, instance, **kwargs) -> None:
    transaction.on_commit(identity_keys_bump)


post_save.connect(_on_identity_key_change, sender=IdentityKey, dispatch_uid="cfg-save-IdentityKey")
post_delete.connect(_on_identity_key_change, sender=IdentityKey, dispatch_uid="cfg-delete-IdentityKey")
