"""Keys on the management API (SPEC sections 2 and 5): ``Authorization: Bearer <secret>``.

An org key (``aid_org_…``) resolves to a :class:`core.api.principal.Principal` of its tenant
and role. An agent key (``aid_sk_…``) is verified only on the views that admit one for reads
(``agent_key_reads``: an app's guardrails, SPEC 5.6); everywhere else it is refused unverified
with ``403 wrong_credential_type``, so a revoked agent key and a live one answer alike.
Last use is recorded at most once a minute.

``X-Tenant-Id`` may only repeat the key's own tenant: naming another answers ``404
not_found`` (reason ``unknown_tenant``), exactly like an unknown tenant, so it reveals nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from core.actors import Actor
from core.api.principal import AGENT_KEY, ORG_KEY, REALM, TENANT_HEADER, Principal
from core.errors import not_found, unauthorized
from core.log_json import logged_tenant_set
from keys.models import Key, OrgKey
from keys.secrets import AGENT_KEY_PREFIX
from keys.services import credential_touch, key_verify, org_key_verify

if TYPE_CHECKING:  # the schema generator imports DRF's views, which import this module
    from drf_spectacular.openapi import AutoSchema


def fixed_tenant(request: Request, tenant_id: str) -> str:
    """The credential's own tenant; ``X-Tenant-Id`` may repeat it and nothing else."""
    requested = request.META.get(TENANT_HEADER, "").strip() or None
    if requested is not None and requested != tenant_id:
        raise not_found("unknown tenant", "unknown_tenant")
    return tenant_id


def bearer_secret(request: Request) -> str | None:
    """The secret of ``Authorization: Bearer <secret>``; None when the header is absent."""
    header = request.META.get("HTTP_AUTHORIZATION")
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise unauthorized("invalid_key", "the Authorization header must be 'Bearer <org key>'")
    value = value.strip()
    if not value:
        raise unauthorized("missing_credential", "the Authorization header holds no credential")
    return value


def _admits_agent_keys(request: Request) -> bool:
    view = (getattr(request, "parser_context", None) or {}).get("view")
    return bool(getattr(view, "agent_key_reads", False))


class BearerAuthentication(BaseAuthentication):
    """Org keys, and agent keys on the views that read with one."""

    def authenticate(self, request: Request) -> tuple[None, Principal] | None:
        secret = bearer_secret(request)
        if secret is None:
            return None
        if secret.startswith(AGENT_KEY_PREFIX) and _admits_agent_keys(request):
            key = key_verify(secret)
            credential_touch(Key, key.id)
            principal = Principal(
                tenant_id=fixed_tenant(request, key.tenant_id),
                kind=AGENT_KEY,
                role=None,
                actor=None,
                agent_key_app_id=key.app_id or key.agent.app_id,
            )
            logged_tenant_set(principal.tenant_id)
            return None, principal
        org_key = org_key_verify(secret)
        credential_touch(OrgKey, org_key.id)
        principal = Principal(
            tenant_id=fixed_tenant(request, org_key.tenant_id),
            kind=ORG_KEY,
            role=org_key.role,
            actor=Actor(ORG_KEY, org_key.id),
        )
        logged_tenant_set(principal.tenant_id)
        return None, principal

    def authenticate_header(self, request: Request) -> str:
        return REALM


class OrgKeyScheme(OpenApiAuthenticationExtension):
    target_class = BearerAuthentication
    name = "orgKey"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "aid_org_…",
            "description": "An org key (role admin or viewer). Viewers may only read.",
        }
