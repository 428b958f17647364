"""The playground: a conversation through the real gateway path, as the person signed in.

The page only offers choices; the browser itself sends the request to the same origin with
the session cookie and ``X-Aidgate-Playground: 1`` (see ``proxy/session_auth.py``), in the
client dialect the user picks: OpenAI chat (``/v1/chat/completions``), Anthropic Messages
(``/v1/messages``, SPEC 3.8) or OpenAI Responses (``/v1/responses``, SPEC 3.9). So the request
is authenticated, limited by the agent's policies and recorded (credential ``session``, the
user's email as identity, ``endpoint`` chat, messages or responses) like any other.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.template.response import TemplateResponse

from console.access import ConsoleRequest, console_context, console_page
from console.selectors import playground_choices
from identity.models import AgentStatus
from proxy.asgi_app import ENDPOINTS


@dataclass(frozen=True, slots=True)
class PlaygroundDialect:
    """A client dialect the playground can speak: the record's endpoint, its label and path."""

    endpoint: str
    label: str
    path: str


def _path_of(endpoint: str) -> str:
    # The proxy's own routing table names the path, so the page never sends to one it does not serve.
    return next(f"/v1/{path}" for path, (served, _method) in ENDPOINTS.items() if served == endpoint)


PLAYGROUND_DIALECTS = tuple(
    PlaygroundDialect(endpoint, label, _path_of(endpoint))
    for endpoint, label in (
        ("chat", "OpenAI chat completions"),
        ("messages", "Anthropic Messages"),
        ("responses", "OpenAI Responses"),
    )
)


@console_page
def playground_view(request: ConsoleRequest) -> TemplateResponse:
    choices = playground_choices(tenant_id=request.console.tenant_id)
    suggestions = choices.suggestions
    context = {
        "title": "Playground",
        "console_section": "playground",
        "choices": choices,
        "agents": [
            {"agent": agent, "active": agent.status == AgentStatus.ACTIVE, "app_id": agent.app_id or ""}
            for agent in choices.agents
        ],
        "dialects": PLAYGROUND_DIALECTS,
        "suggestions": suggestions,
        "default_model": suggestions[0] if suggestions else "",
        # Every visit starts a conversation of its own, so its turns group in the activity pages.
        "conversation_id": f"playground-{secrets.token_hex(6)}",
    }
    return TemplateResponse(request, "console/playground.html", console_context(request, **context))
