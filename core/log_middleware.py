"""Names each request Django serves (management API, console) in its log lines.

First in ``MIDDLEWARE``: every line written while the request is served, Django's own
``django.request`` lines included (written after the middleware chain returns), carries the
request's id (the one of its error envelope and ``X-Request-ID``), and its tenant once
:func:`core.log_json.logged_tenant_set` names it. Every Django answer carries that
``X-Request-ID``, console pages too, so a line can be matched to the answer it is about.

The context variable is set and not reset: each request is served in a task of its own, whose
context ends with it (Django's ``log_response`` runs in that task after the chain returns,
the server's access line while the answer is sent).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponseBase
from django.utils.decorators import sync_and_async_middleware

from core.api.errors import request_id
from core.log_json import DjangoRequestLogged, request_logged

REQUEST_ID_HEADER = "X-Request-ID"


def _begin(request: HttpRequest) -> str:
    rid = request_id(request)
    request_logged.set(DjangoRequestLogged(id=rid))
    return rid


def _end(response: HttpResponseBase, rid: str) -> HttpResponseBase:
    if REQUEST_ID_HEADER not in response:
        response[REQUEST_ID_HEADER] = rid
    return response


@sync_and_async_middleware
def request_logging_middleware(get_response: Callable[[HttpRequest], Any]) -> Callable[[HttpRequest], Any]:
    if iscoroutinefunction(get_response):
        async_get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]] = get_response

        async def middleware(request: HttpRequest) -> HttpResponseBase:
            rid = _begin(request)
            return _end(await async_get_response(request), rid)

        return middleware

    def sync_middleware(request: HttpRequest) -> HttpResponseBase:
        rid = _begin(request)
        return _end(get_response(request), rid)

    return sync_middleware
