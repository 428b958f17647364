"""The playground: a chat through the real gateway path, as the person signed in.

The page only offers choices; the browser itself sends ``POST /v1/chat/completions`` to the
same origin with the session cookie and ``X-Aidgate-Playground: 1`` (see
``proxy/session_auth.py``), so the request is authenticated, limited by the agent's policies
and recorded (credential ``session``, the user's email as identity) like any other.
"""

from __future__ import annotations

import secrets

from django.template.response import TemplateResponse

from console.access import ConsoleRequest, console_context, console_page
from console.selectors import playground_choices
from identity.models import AgentStatus


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
        "suggestions": suggestions,
        "default_model": suggestions[0] if suggestions else "",
        # Every visit starts a conversation of its own, so its turns group in the activity pages.
        "conversation_id": f"playground-{secrets.token_hex(6)}",
    }
    return TemplateResponse(request, "console/playground.html", console_context(request, **context))
