"""The one exception handler of the management API: every failure leaves as the SPEC
section 4 envelope, whatever raised it (a service, DRF, Django or a bug).

Domain refusals are :class:`core.errors.GatewayError`; services may also raise Django's
``ValidationError`` (model ``clean``); DRF raises its own exceptions for parsing,
serializer validation and routing. All of them are mapped here and nowhere else.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import set_rollback

from core.errors import GatewayError, error_body
from core.ids import new_id

logger = logging.getLogger(__name__)

REQUEST_ID_ATTR = "aidgate_request_id"
MAX_MESSAGE_LENGTH = 600
# Paths whose every answer is JSON, errors included (SPEC 3: an unknown path under /v1/ or
# /apps/ answers the envelope, never an HTML page).
API_PATH_PREFIXES = ("/v1/", "/apps/", "/api/")
API_PATH_ROOTS = ("/v1", "/apps", "/api")


def request_id(request: Any) -> str:
    """The ``req_`` id of this request, made once and shared by the body and the header."""
    django_request = getattr(request, "_request", request)
    value = getattr(django_request, REQUEST_ID_ATTR, None)
    if value is None:
        value = new_id("req")
        setattr(django_request, REQUEST_ID_ATTR, value)
    return value


def _field_messages(detail: Any, path: str = "") -> list[str]:
    """Flatten DRF's nested error detail into ``field.sub[0]: message`` lines."""
    if isinstance(detail, Mapping):
        lines: list[str] = []
        for key, value in detail.items():
            if isinstance(key, int):  # DRF keys the errors of list items by their index
                lines += _field_messages(value, f"{path}[{key}]")
                continue
            name = "" if key in ("non_field_errors", "__all__") else str(key)
            lines += _field_messages(value, f"{path}.{name}" if path and name else path or name)
        return lines
    if isinstance(detail, Sequence) and not isinstance(detail, str):
        if all(isinstance(item, str) for item in detail):
            return [f"{path}: {item}" if path else str(item) for item in detail]
        lines = []
        for index, item in enumerate(detail):
            if item:  # DRF reports valid list items as empty dicts
                lines += _field_messages(item, f"{path}[{index}]")
        return lines
    return [f"{path}: {detail}" if path else str(detail)]


def _message(lines: list[str], fallback: str) -> str:
    message = "; ".join(lines) or fallback
    return message if len(message) <= MAX_MESSAGE_LENGTH else message[: MAX_MESSAGE_LENGTH - 1] + "…"


def _has_code(detail: Any, code: str) -> bool:
    if isinstance(detail, Mapping):
        return any(_has_code(v, code) for v in detail.values())
    if isinstance(detail, list):
        return any(_has_code(v, code) for v in detail)
    return getattr(detail, "code", None) == code


def gateway_error_for(exc: Exception) -> GatewayError | None:
    """The SPEC error an exception stands for, or None for a bug (a 500)."""
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        return GatewayError(400, "invalid_request", _message(_field_messages(detail), "invalid request"))
    if isinstance(exc, drf.ValidationError):
        reason = "unknown_field" if _has_code(exc.detail, "unknown_field") else "invalid_request"
        return GatewayError(400, "invalid_request", _message(_field_messages(exc.detail), "invalid request"), reason)
    if isinstance(exc, drf.ParseError):
        return GatewayError(400, "invalid_request", "the request body is not valid JSON", "invalid_json")
    if isinstance(exc, RecursionError):
        # The stdlib JSON parser gives up on deeply nested input with RecursionError.
        return GatewayError(400, "invalid_request", "the request body is nested too deeply", "invalid_json")
    if isinstance(exc, RequestDataTooBig):
        limit = settings.MAX_REQUEST_BYTES
        return GatewayError(413, "request_too_large", f"request body exceeds {limit} bytes")
    if isinstance(exc, drf.UnsupportedMediaType):
        message = "the request body must be JSON (Content-Type: application/json)"
        return GatewayError(400, "invalid_request", message, "unsupported_media_type")
    if isinstance(exc, drf.NotAuthenticated):
        return GatewayError(401, "unauthorized", "send Authorization: Bearer aid_org_…", "missing_credential")
    if isinstance(exc, drf.AuthenticationFailed):
        return GatewayError(401, "unauthorized", str(exc.detail), "invalid_key")
    if isinstance(exc, drf.PermissionDenied | DjangoPermissionDenied):
        text = str(getattr(exc, "detail", "") or exc)
        if text.startswith("CSRF Failed"):
            return GatewayError(403, "forbidden", text, "csrf_failed")
        return GatewayError(403, "forbidden", text or "not allowed")
    if isinstance(exc, drf.NotFound | Http404):
        return GatewayError(404, "not_found", "not found")
    # The SPEC has no code for these; like the proxy, they are invalid requests with a reason.
    if isinstance(exc, drf.MethodNotAllowed):
        return GatewayError(405, "invalid_request", str(exc.detail), "method_not_allowed")
    if isinstance(exc, drf.NotAcceptable):
        return GatewayError(406, "invalid_request", "this endpoint answers application/json only", "not_acceptable")
    if isinstance(exc, drf.Throttled):
        headers = {"Retry-After": str(int(exc.wait or 1))}
        return GatewayError(429, "rate_limited", "too many management requests", "throttled", headers=headers)
    if isinstance(exc, DataError):
        # A value the database cannot take (PostgreSQL refuses NUL characters in text, say).
        return GatewayError(400, "invalid_request", "a value in the request cannot be stored or searched for")
    if isinstance(exc, IntegrityError):
        # A unique constraint lost a race with a concurrent write (the services check first).
        return GatewayError(400, "invalid_request", "the request conflicts with existing data", "conflict")
    if isinstance(exc, drf.APIException):
        return GatewayError(exc.status_code, exc.default_code, str(exc.detail))
    return None


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's ``EXCEPTION_HANDLER``: never None, so no exception ever becomes a debug page."""
    request = context.get("request")
    rid = request_id(request) if request is not None else new_id("req")
    error = gateway_error_for(exc)
    set_rollback()
    if error is None:
        logger.exception("management API failure (request %s)", rid, exc_info=exc)
        error = GatewayError(500, "internal_error", f"internal error; quote request id {rid} when reporting it")
    headers = {"X-Request-ID": rid, **error.headers}
    if error.status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="aidgate"')
    return Response(error.body(rid), status=error.status, headers=headers)


def is_api_path(path: str) -> bool:
    return path.startswith(API_PATH_PREFIXES) or path in API_PATH_ROOTS


def not_found_view(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """``handler404``: unknown API paths answer the envelope; the console keeps Django's page."""
    if not is_api_path(request.path):
        return defaults.page_not_found(request, exception)
    rid = request_id(request)
    body = error_body(404, "not_found", f"no endpoint at {request.path[:200]}", "unknown_endpoint", rid)
    return JsonResponse(body, status=404, headers={"X-Request-ID": rid})


def server_error_view(request: HttpRequest) -> HttpResponse:
    """``handler500``: a failure outside DRF (middleware, URL resolution) still answers JSON."""
    if not is_api_path(request.path):
        return defaults.server_error(request)
    rid = request_id(request)
    body = error_body(500, "internal_error", f"internal error; quote request id {rid} when reporting it", None, rid)
    return JsonResponse(body, status=500, headers={"X-Request-ID": rid})
