"""Writes of providers, aliases and the price table."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from core.actors import Actor
from core.crypto import decrypt_secret, encrypt_secret
from core.errors import invalid_request
from core.model_changes import model_update, snapshot
from forensics.services import event_record, update_recorded
from providers.models import EXTRA_HEADER_MASK, Alias, ModelPrice, Provider
from providers.rules import extra_headers_clean

# Plain fields; ``api_key`` and ``extra_headers`` are written apart, encrypted.
PROVIDER_FIELDS = [
    "name",
    "kind",
    "base_url",
    "models",
    "timeout_seconds",
    "priority",
    "api_version",
    "send_agent_identity",
]
ALIAS_FIELDS = ["alias", "targets"]


def _masked(encrypted: dict[str, str]) -> dict[str, str]:
    return {name: EXTRA_HEADER_MASK for name in encrypted}


def _same_value(token: str, clear: str) -> bool:
    try:
        return decrypt_secret(token) == clear
    except ValueError:  # encrypted under a key no longer configured: take the new value
        return False


def extra_headers_encrypted(value: Any, *, stored: dict[str, str]) -> dict[str, str]:
    """What to store for the extra headers a client sent: each value encrypted.

    The object replaces the stored one (a header left out is removed). A value of ``"***"``
    (what reads show) keeps that header's stored value, so a client may send back what it
    read and change only the headers it means to; ``"***"`` for a header that has no stored
    value is refused. An unchanged clear value keeps its stored token, so the event trail
    says "changed" only when something did.
    """
    headers = extra_headers_clean(value)
    stored_by_name = {name.lower(): token for name, token in stored.items()}
    encrypted: dict[str, str] = {}
    for name, clear in headers.items():
        previous = stored.get(name) or stored_by_name.get(name.lower())
        if clear == EXTRA_HEADER_MASK:
            if previous is None:
                raise ValidationError(
                    {"extra_headers": f'{name}: "{EXTRA_HEADER_MASK}" keeps a stored value, and this header has none'}
                )
            encrypted[name] = previous
        elif previous is not None and _same_value(previous, clear):
            encrypted[name] = previous
        else:
            encrypted[name] = encrypt_secret(clear)
    return encrypted


@transaction.atomic
def provider_create(
    *,
    tenant_id: str,
    actor: Actor,
    name: str,
    kind: str,
    api_key: str | None = None,
    extra_headers: dict[str, str] | None = None,
    **fields: Any,
) -> Provider:
    unknown = set(fields) - set(PROVIDER_FIELDS)
    if unknown:
        raise TypeError(f"unknown provider fields: {unknown}")
    provider = Provider(tenant_id=tenant_id, name=name, kind=kind, **fields)
    if api_key:
        provider.api_key_encrypted = encrypt_secret(api_key)
    provider.extra_headers_encrypted = extra_headers_encrypted(extra_headers, stored={})
    provider.full_clean()
    provider.save()
    changes = snapshot(provider, PROVIDER_FIELDS)
    changes["extra_headers"] = {"before": None, "after": provider.extra_headers_masked}
    changes["api_key_set"] = {"before": None, "after": provider.api_key_set}
    event_record(provider, actor=actor, action="provider.created", changes=changes)
    return provider


@transaction.atomic
def provider_update(*, provider: Provider, actor: Actor, data: dict[str, Any]) -> Provider:
    data = dict(data)
    api_key = data.pop("api_key", None)
    headers = data.pop("extra_headers", None)
    changes = model_update(provider, data, fields=PROVIDER_FIELDS)
    if headers is not None:
        before = dict(provider.extra_headers_encrypted or {})
        after = extra_headers_encrypted(headers, stored=before)
        if after != before:
            provider.extra_headers_encrypted = after
            provider.save(update_fields=["extra_headers_encrypted", "updated_at"])
            # Names only: the values are write-only, in events too (SPEC 5.5).
            changes["extra_headers"] = {"before": _masked(before), "after": _masked(after), "changed": True}
    if api_key is not None:
        provider.api_key_encrypted = encrypt_secret(api_key) if api_key else ""
        provider.save(update_fields=["api_key_encrypted", "updated_at"])
        changes["api_key"] = {"before": None, "after": None, "changed": True}
    if changes:
        event_record(provider, actor=actor, action="provider.updated", changes=changes)
    return provider


@transaction.atomic
def provider_delete(*, provider: Provider, actor: Actor) -> None:
    event_record(
        provider, actor=actor, action="provider.deleted", changes={"name": {"before": provider.name, "after": None}}
    )
    provider.delete()


@transaction.atomic
def alias_create(*, tenant_id: str, actor: Actor, alias: str, targets: list[dict[str, str]]) -> Alias:
    if Alias.objects.for_tenant(tenant_id).filter(alias=alias).exists():
        raise invalid_request(f"alias {alias!r} exists already", "alias_taken")
    obj = Alias(tenant_id=tenant_id, alias=alias, targets=targets)
    obj.full_clean()
    obj.save()
    event_record(obj, actor=actor, action="alias.created", changes=snapshot(obj, ALIAS_FIELDS))
    return obj


@transaction.atomic
def alias_update(*, alias: Alias, actor: Actor, data: dict[str, Any]) -> Alias:
    update_recorded(alias, data, fields=ALIAS_FIELDS, actor=actor, action="alias.updated")
    return alias


@transaction.atomic
def alias_delete(*, alias: Alias, actor: Actor) -> None:
    event_record(alias, actor=actor, action="alias.deleted", changes={"alias": {"before": alias.alias, "after": None}})
    alias.delete()


PRICE_FIELDS = ["model_pattern", "input_per_million_usd", "cached_input_per_million_usd", "output_per_million_usd"]


@transaction.atomic
def price_create(*, tenant_id: str, actor: Actor, **fields: Any) -> ModelPrice:
    price = ModelPrice(tenant_id=tenant_id, **{f: fields[f] for f in PRICE_FIELDS if f in fields})
    price.full_clean()
    price.save()
    event_record(price, actor=actor, action="model_price.created", changes=snapshot(price, PRICE_FIELDS))
    return price


@transaction.atomic
def price_update(*, price: ModelPrice, actor: Actor, data: dict[str, Any]) -> ModelPrice:
    update_recorded(price, data, fields=PRICE_FIELDS, actor=actor, action="model_price.updated")
    return price


@transaction.atomic
def price_delete(*, price: ModelPrice, actor: Actor) -> None:
    event_record(
        price,
        actor=actor,
        action="model_price.deleted",
        changes={"model_pattern": {"before": price.model_pattern, "after": None}},
    )
    price.delete()
