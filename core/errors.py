"""The one domain error type, and the SPEC section 4 error envelope built from it.

Services raise :class:`GatewayError`; the proxy and the management API turn it into the
same JSON body, so the envelope is defined once here.
"""

from __future__ import annotations

from typing import Any

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


def error_type_for(status: int) -> str:
    return ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


class GatewayError(Exception):
    """A refusal or failure the client is told about, with the SPEC's code and reason."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        reason: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.reason = reason or code
        self.message = message
        self.headers = headers or {}
        self.details = details

    def body(self, request_id: str | None = None) -> dict[str, Any]:
        return error_body(self.status, self.code, self.message, self.reason, request_id, self.details)


def error_body(
    status: int,
    code: str,
    message: str,
    reason: str | None = None,
    request_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    error: dict[str, Any] = {
        "code": code,
        "reason": reason or code,
        "message": message,
        "type": error_type_for(status),
        "request_id": request_id,
    }
    if details:
        error["details"] = details
    return {"error": error}


def invalid_request(message: str, reason: str = "invalid_request", **kw: Any) -> GatewayError:
    return GatewayError(400, "invalid_request", message, reason, **kw)


def not_found(message: str = "not found", reason: str = "not_found") -> GatewayError:
    return GatewayError(404, "not_found", message, reason)


def unauthorized(reason: str, message: str) -> GatewayError:
    return GatewayError(401, "unauthorized", message, reason)


def forbidden(reason: str, message: str) -> GatewayError:
    return GatewayError(403, "forbidden", message, reason)
