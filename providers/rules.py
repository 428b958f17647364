"""Validation of providers and aliases, shared by the admin, the API and the services."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError

from core.upstream_guard import url_clean
from core.validation import globs_clean, is_model_name
from providers.kinds import KINDS_WITHOUT_DEFAULT_URL, PROVIDER_KINDS

FORBIDDEN_EXTRA_HEADERS = {
    "authorization",
    "x-api-key",
    "api-key",
    "host",
    "content-length",
    "x-goog-api-key",
}


# RFC 9110 token characters; a value may hold anything but the bytes that end a header line.
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$")
HEADER_VALUE_FORBIDDEN = re.compile(r"[\r\n\x00]")
MAX_EXTRA_HEADERS = 50
MAX_EXTRA_HEADER_VALUE = 8192


def extra_headers_clean(value: Any) -> dict[str, str]:
    """Extra headers as a client or the console sends them, in clear: ``{name: value}``.

    Credentials have their own field (``api_key``, encrypted and never echoed); a header that
    would carry one, or a framing header, is refused here.
    """
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValidationError({"extra_headers": "must be an object of string values"})
    if len(value) > MAX_EXTRA_HEADERS:
        raise ValidationError({"extra_headers": f"at most {MAX_EXTRA_HEADERS} headers"})
    if FORBIDDEN_EXTRA_HEADERS & {k.lower() for k in value}:
        raise ValidationError({"extra_headers": "credentials and hop headers cannot be set here; use api_key"})
    for name, header_value in value.items():
        if not HEADER_NAME.match(name):
            raise ValidationError({"extra_headers": f"{name[:60]!r} is not a header name"})
        if HEADER_VALUE_FORBIDDEN.search(header_value) or len(header_value) > MAX_EXTRA_HEADER_VALUE:
            raise ValidationError(
                {"extra_headers": f"{name}: a value is one line of at most {MAX_EXTRA_HEADER_VALUE} characters"}
            )
    return dict(value)


def provider_fields_clean(*, kind: str, base_url: str, models: Any, timeout_seconds: Any) -> dict[str, Any]:
    if kind not in PROVIDER_KINDS:
        raise ValidationError({"kind": f"must be one of {', '.join(PROVIDER_KINDS)}"})
    if base_url:
        base_url = url_clean(base_url, field="base_url").rstrip("/")
    elif kind in KINDS_WITHOUT_DEFAULT_URL:
        raise ValidationError({"base_url": f"is required for kind {kind}"})
    if models is None:
        models = []
    if models:
        globs_clean(models, field="models")
    elif not isinstance(models, list):
        raise ValidationError({"models": "must be a list of patterns"})
    if (
        not isinstance(timeout_seconds, int | float)
        or isinstance(timeout_seconds, bool)
        or not 0.1 <= timeout_seconds <= 600
    ):
        raise ValidationError({"timeout_seconds": "must be a number from 0.1 to 600"})
    return {"base_url": base_url, "models": models, "timeout_seconds": float(timeout_seconds)}


def alias_targets_clean(value: Any) -> list[dict[str, str]]:
    """The shape of an alias's targets; that each names a provider of the tenant is checked
    by ``Alias.clean``, which can ask the database."""
    if not isinstance(value, list) or not value or len(value) > 10:
        raise ValidationError({"targets": "must be a list of 1 to 10 {provider_id, model}"})
    cleaned = []
    for target in value:
        if not isinstance(target, dict) or set(target) != {"provider_id", "model"}:
            raise ValidationError({"targets": "each target must be exactly {provider_id, model}"})
        if not all(isinstance(target[f], str) and target[f] for f in ("provider_id", "model")):
            raise ValidationError({"targets": "provider_id and model must be non-empty strings"})
        if not is_model_name(target["model"]):
            raise ValidationError({"targets": f"{target['model'][:60]!r} is not a model name (SPEC 3.6)"})
        cleaned.append({"provider_id": target["provider_id"], "model": target["model"]})
    return cleaned
