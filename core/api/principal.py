"""Who called the management API, as every view reads it from ``request.auth``.

The authentication classes that produce it (org and agent keys in ``keys.api.authentication``,
console sessions in ``tenants.api.authentication``) sit above ``core``; views and the
permission rule only need this value, so they depend on nothing but it.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.actors import Actor

ORG_KEY = "org_key"
USER = "user"
AGENT_KEY = "agent_key"
ADMIN_ROLE = "admin"
TENANT_HEADER = "HTTP_X_TENANT_ID"
REALM = 'Bearer realm="aidgate"'


@dataclass(frozen=True, slots=True)
class Principal:
    """The resolved caller: its tenant, its role and how it appears in the event trail."""

    tenant_id: str
    kind: str  # org_key | user | agent_key
    role: str | None  # admin | viewer; None for an agent key, which never writes
    actor: Actor | None
    # An agent key's app: the key's own app, else its agent's (SPEC 5.6); None otherwise.
    agent_key_app_id: str | None = None

    @property
    def is_agent_key(self) -> bool:
        return self.kind == AGENT_KEY

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN_ROLE
