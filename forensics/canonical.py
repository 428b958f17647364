"""The canonical JSON of a record and the chain arithmetic, shared by the sealer, the online
verifier and the offline verifier (which must agree byte for byte)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

GENESIS_HASH = "0" * 64

# The fields of SPEC section 6 that the chain covers (everything but the chain's own).
CHAINED_FIELDS = (
    "id", "tenant_id", "created_at", "client_request_id", "app_id", "agent_id", "key_id", "credential", "user",
    "identity_source", "conversation_id", "endpoint", "model_requested", "model_resolved", "provider_id", "stream",
    "status_code", "error_code", "error_reason", "prompt_tokens", "completion_tokens", "cost_usd", "latency_ms",
    "upstream_latency_ms", "client_ip", "user_agent", "policy_ids", "fail_open", "request_body", "response_body",
)  # fmt: skip
COST_QUANTUM = Decimal("0.00000001")


def timestamp_text(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _created_at_text(value: Any) -> Any:
    return timestamp_text(value) if isinstance(value, datetime) else value


def _cost_text(value: Any) -> str:
    return str(Decimal(str(value)).quantize(COST_QUANTUM))


def _milliseconds(value: Any) -> float:
    return round(float(value), 3)


# The fields whose stored value is not its canonical form; every other value is taken as is.
CANONICAL_FORMS = {
    "created_at": _created_at_text,
    "cost_usd": _cost_text,
    "latency_ms": _milliseconds,
    "upstream_latency_ms": _milliseconds,
}


def canonical_value(field: str, value: Any) -> Any:
    if value is None:
        return None
    form = CANONICAL_FORMS.get(field)
    return value if form is None else form(value)


def record_document(record: Any) -> dict[str, Any]:
    """The chained fields of a record (a model instance or a dict from an export)."""
    get = record.get if isinstance(record, dict) else lambda f: getattr(record, f)
    return {field: canonical_value(field, get(field)) for field in CHAINED_FIELDS}


def row_document(row: Sequence[Any]) -> dict[str, Any]:
    """``record_document`` of a row holding the values of ``CHAINED_FIELDS`` in that order, as
    the fields' converters return them (``values_list``): the sealer's read, without the
    per-field lookups that made the document the largest part of sealing's CPU."""
    document = dict(zip(CHAINED_FIELDS, row, strict=True))
    for field, form in CANONICAL_FORMS.items():
        if document[field] is not None:
            document[field] = form(document[field])
    return document


def canonical_json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(prev_hash: str, seq: int, document: dict[str, Any]) -> str:
    """Binds the record to its position and to everything before it."""
    digest = hashlib.sha256()
    digest.update(f"{prev_hash}\n{seq}\n".encode())
    digest.update(canonical_json(document))
    return digest.hexdigest()


def checkpoint_statement(
    *, tenant_id: str, kind: str, seq: int, chain_hash_value: str, records: int, created_at: str
) -> bytes:
    return canonical_json(
        {"tenant_id": tenant_id, "kind": kind, "seq": seq, "chain_hash": chain_hash_value, "records": records,
         "created_at": created_at}
    )  # fmt: skip
