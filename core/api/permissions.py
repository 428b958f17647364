"""The management API's one permission rule (SPEC section 2): a credential of the right
kind, and the admin role for writes (and for the few reads that are admin-only)."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from core.api.principal import Principal
from core.errors import GatewayError, forbidden, unauthorized


class ManagementAccess(BasePermission):
    """Reads ``admin_only`` and ``agent_key_reads`` from the view.

    Raises the SPEC's errors itself (rather than returning False) so that the reason is
    exact: ``missing_credential``, ``wrong_credential_type``, ``insufficient_role`` or
    ``guardrail_policy_forbidden``. Role checks come before object lookups: a refused
    write answers the same for an unknown, a foreign and an own id, so it reveals nothing.
    """

    def has_permission(self, request: Request, view: Any) -> bool:
        principal = request.auth
        if not isinstance(principal, Principal):
            raise unauthorized("missing_credential", "send Authorization: Bearer aid_org_… or log in to the console")
        if principal.is_agent_key:
            if not getattr(view, "agent_key_reads", False):
                raise forbidden("wrong_credential_type", "an agent key cannot be used on the management API")
            if request.method not in SAFE_METHODS:
                # Guardrails are the only resource that admits agent keys (SPEC 5.6).
                raise GatewayError(403, "guardrail_policy_forbidden", "an agent key cannot change guardrails")
            return True
        if (request.method not in SAFE_METHODS or getattr(view, "admin_only", False)) and not principal.is_admin:
            raise forbidden("insufficient_role", "this needs an admin org key or a console admin")
        return True
