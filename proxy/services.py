"""Writes of providers, aliases and the price table."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction

from core.actors import Actor
from core.crypto import encrypt_secret
from core.model_changes import model_update, snapshot
from forensics.services import event_record
from proxy.models import Alias, ModelPrice, Provider

PROVIDER_FIELDS = [
    "name",
    "kind",
    "base_url",
    "models",
    "timeout_seconds",
    "extra_headers",
    "priority",
    "api_version",
]
ALIAS_FIELDS = ["alias", "targets"]

# Published list prices (USD per million tokens, input/output) as seeded into every tenant;
# tenants edit their copy. Patterns are fnmatch globs, most specific first.
LIST_PRICES: list[tuple[str, str, str]] = [
    ("gpt-4o-mini*", "0.15", "0.60"),
    ("gpt-4o*", "2.50", "10.00"),
    ("gpt-4.1-mini*", "0.40", "1.60"),
    ("gpt-4.1-nano*", "0.10", "0.40"),
    ("gpt-4.1*", "2.00", "8.00"),
    ("o3-mini*", "1.10", "4.40"),
    ("o4-mini*", "1.10", "4.40"),
    ("o3*", "2.00", "8.00"),
    ("text-embedding-3-small", "0.02", "0"),
    ("text-embedding-3-large", "0.13", "0"),
    ("claude-3-5-haiku*", "0.80", "4.00"),
    ("claude-haiku-4*", "1.00", "5.00"),
    ("claude-sonnet-4*", "3.00", "15.00"),
    ("claude-3-7-sonnet*", "3.00", "15.00"),
    ("claude-opus-4*", "15.00", "75.00"),
    ("gemini-2.5-flash*", "0.30", "2.50"),
    ("gemini-2.5-pro*", "1.25", "10.00"),
    ("gemini-2.0-flash*", "0.10", "0.40"),
    ("command-r-plus*", "2.50", "10.00"),
    ("command-r*", "0.15", "0.60"),
    ("command-a*", "2.50", "10.00"),
    ("mistral-large*", "2.00", "6.00"),
    ("mistral-small*", "0.10", "0.30"),
    ("codestral*", "0.30", "0.90"),
    ("mock-*", "0", "0"),
]


def price_table_seed(*, tenant_id: str) -> None:
    ModelPrice.objects.bulk_create(
        [
            ModelPrice(
                tenant_id=tenant_id,
                model_pattern=p,
                input_per_million_usd=Decimal(i),
                output_per_million_usd=Decimal(o),
            )
            for p, i, o in LIST_PRICES
        ],
        ignore_conflicts=True,
    )


@transaction.atomic
def provider_create(
    *, tenant_id: str, actor: Actor, name: str, kind: str, api_key: str | None = None, **fields: Any
) -> Provider:
    unknown = set(fields) - set(PROVIDER_FIELDS)
    if unknown:
        raise TypeError(f"unknown provider fields: {unknown}")
    provider = Provider(tenant_id=tenant_id, name=name, kind=kind, **fields)
    if api_key:
        provider.api_key_encrypted = encrypt_secret(api_key)
    provider.full_clean()
    provider.save()
    changes = snapshot(provider, PROVIDER_FIELDS)
    changes["api_key_set"] = {"before": None, "after": provider.api_key_set}
    event_record(
        tenant_id=tenant_id, actor=actor, action="provider.created", object_type="provider", object_id=provider.id,
        changes=changes,
    )  # fmt: skip
    return provider


@transaction.atomic
def provider_update(*, provider: Provider, actor: Actor, data: dict[str, Any]) -> Provider:
    data = dict(data)
    api_key = data.pop("api_key", None)
    changes = model_update(provider, data, fields=PROVIDER_FIELDS)
    if api_key is not None:
        provider.api_key_encrypted = encrypt_secret(api_key) if api_key else ""
        provider.save(update_fields=["api_key_encrypted", "updated_at"])
        changes["api_key"] = {"before": None, "after": None, "changed": True}
    if changes:
        event_record(
            tenant_id=provider.tenant_id, actor=actor, action="provider.updated", object_type="provider",
            object_id=provider.id, changes=changes,
        )  # fmt: skip
    return provider


@transaction.atomic
def provider_delete(*, provider: Provider, actor: Actor) -> None:
    event_record(
        tenant_id=provider.tenant_id, actor=actor, action="provider.deleted", object_type="provider",
        object_id=provider.id, changes={"name": {"before": provider.name, "after": None}},
    )  # fmt: skip
    provider.delete()


@transaction.atomic
def alias_create(*, tenant_id: str, actor: Actor, alias: str, targets: list[dict[str, str]]) -> Alias:
    from core.errors import invalid_request

    if Alias.objects.for_tenant(tenant_id).filter(alias=alias).exists():
        raise invalid_request(f"alias {alias!r} exists already", "alias_taken")
    obj = Alias(tenant_id=tenant_id, alias=alias, targets=targets)
    obj.full_clean()
    obj.save()
    event_record(
        tenant_id=tenant_id, actor=actor, action="alias.created", object_type="alias", object_id=obj.id,
        changes=snapshot(obj, ALIAS_FIELDS),
    )  # fmt: skip
    return obj


@transaction.atomic
def alias_update(*, alias: Alias, actor: Actor, data: dict[str, Any]) -> Alias:
    changes = model_update(alias, data, fields=ALIAS_FIELDS)
    if changes:
        event_record(
            tenant_id=alias.tenant_id, actor=actor, action="alias.updated", object_type="alias", object_id=alias.id,
            changes=changes,
        )  # fmt: skip
    return alias


@transaction.atomic
def alias_delete(*, alias: Alias, actor: Actor) -> None:
    event_record(
        tenant_id=alias.tenant_id, actor=actor, action="alias.deleted", object_type="alias", object_id=alias.id,
        changes={"alias": {"before": alias.alias, "after": None}},
    )  # fmt: skip
    alias.delete()


PRICE_FIELDS = ["model_pattern", "input_per_million_usd", "output_per_million_usd"]


@transaction.atomic
def price_create(*, tenant_id: str, actor: Actor, **fields: Any) -> ModelPrice:
    price = ModelPrice(tenant_id=tenant_id, **{f: fields[f] for f in PRICE_FIELDS if f in fields})
    price.full_clean()
    price.save()
    event_record(
        tenant_id=tenant_id, actor=actor, action="model_price.created", object_type="model_price",
        object_id=str(price.pk), changes=snapshot(price, PRICE_FIELDS),
    )  # fmt: skip
    return price


@transaction.atomic
def price_update(*, price: ModelPrice, actor: Actor, data: dict[str, Any]) -> ModelPrice:
    changes = model_update(price, data, fields=PRICE_FIELDS)
    if changes:
        event_record(
            tenant_id=price.tenant_id, actor=actor, action="model_price.updated", object_type="model_price",
            object_id=str(price.pk), changes=changes,
        )  # fmt: skip
    return price


@transaction.atomic
def price_delete(*, price: ModelPrice, actor: Actor) -> None:
    event_record(
        tenant_id=price.tenant_id, actor=actor, action="model_price.deleted", object_type="model_price",
        object_id=str(price.pk), changes={"model_pattern": {"before": price.model_pattern, "after": None}},
    )  # fmt: skip
    price.delete()
