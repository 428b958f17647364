"""A service's refusal, shown in the console as a message or a form error instead of a 500.

The admin classes (``tenants.admin_base``) and the console's own pages run every write
through the domain services; these turn what a service raises (``ValidationError``,
:class:`core.errors.GatewayError`) into text the console can show.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.contrib import messages
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.http import HttpRequest

from core.errors import GatewayError

# Set on the request when a service refused a save, so the form is shown again with the reason.
REFUSAL_ATTR = "_console_service_refusal"


class ServiceRefused(Exception):
    """A service said no; the console shows the reason instead of answering 500."""

    def __init__(self, error: ValidationError | GatewayError) -> None:
        self.error = error
        super().__init__(refusal_text(error))

    def as_validation_error(self) -> ValidationError:
        if isinstance(self.error, GatewayError):
            return ValidationError(self.error.message, code=self.error.reason)
        return self.error


def refusal_text(error: ValidationError | GatewayError) -> str:
    """One line for a message: ``field: reason; field: reason``."""
    if isinstance(error, GatewayError):
        return error.message
    if hasattr(error, "error_dict"):
        return "; ".join(
            (msg if field == NON_FIELD_ERRORS else f"{field}: {msg}")
            for field, errors in error.message_dict.items()
            for msg in errors
        )
    return "; ".join(error.messages)


@contextmanager
def service_refusals() -> Iterator[None]:
    """Turn the services' ValidationError and GatewayError into :class:`ServiceRefused`."""
    try:
        yield
    except (ValidationError, GatewayError) as exc:
        raise ServiceRefused(exc) from exc


def refusal_report(request: HttpRequest, obj: object, refusal: ServiceRefused) -> None:
    """Tell the user one object of a bulk action was refused (the others still ran)."""
    messages.error(request, f"{obj}: {refusal}")
