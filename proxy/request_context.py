"""Everything the pipeline learns about one request, in one place, ending up in its record."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from core.ids import new_id
from proxy.config_snapshot import AgentEntry


@dataclass(slots=True)
class RequestContext:
    """Mutable state of one proxied request; each pipeline stage fills its part."""

    method: str
    path: str
    endpoint: str  # chat | embeddings | models | messages | responses
    app_slug: str | None
    headers: dict[str, str]
    query: dict[str, str]
    client_ip: str | None
    scheme: str = "http"
    id: str = field(default_factory=lambda: new_id("req"))
    started: float = field(default_factory=time.perf_counter)
    started_wall: float = field(default_factory=time.time)
    client_request_id: str | None = None
    tenant_id: str | None = None
    app_id: str | None = None
    agent_id: str | None = None
    # The caller's agent as authentication read it (ConfigCache.agent): later stages use this
    # entry, not a lookup in a snapshot that a confirmation may since have replaced.
    agent: AgentEntry | None = None
    key_id: str | None = None
    credential: str | None = None  # key | jwt | session
    user: str | None = None
    user_email: str | None = None
    identity_source: str | None = None
    scopes: frozenset[str] = frozenset()
    conversation_id: str | None = None
    body: dict[str, Any] | None = None
    model_requested: str | None = None
    model_resolved: str | None = None
    provider_id: str | None = None
    provider_kind: str | None = None
    stream: bool = False
    status_code: int = 0
    error_code: str | None = None
    error_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # Prompt tokens the provider served from its cache (priced at the cached-input rate).
    cached_tokens: int = 0
    # None when the model has no price (unpriced): never recorded as free.
    cost_usd: float | None = 0.0
    upstream_latency_ms: float | None = None
    policy_ids: list[str] = field(default_factory=list)
    fail_open: list[str] = field(default_factory=list)
    request_body_capture: str | None = None
    response_body_capture: str | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    # The caller's signed identity (proxy.agent_identity), stamped on each upstream request.
    identity: Any = None
    # Set by policy enforcement: undo work (token reservations, concurrency leases) at the end.
    finalizers: list[Any] = field(default_factory=list)
    recorded: bool = False

    @property
    def user_agent(self) -> str | None:
        return self.headers.get("user-agent")

    def latency_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000.0
