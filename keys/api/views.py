"""Agent keys (SPEC 5.3) and org keys (SPEC 5.0)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.schema import LIST_PARAMETERS, list_of
from core.api.views import ManagementView
from identity.models import Agent
from identity.selectors import agent_get
from keys.api.serializers import (
    KeyCreatedSerializer,
    KeyInputSerializer,
    KeyRotateInputSerializer,
    KeySerializer,
    OrgKeyCreatedSerializer,
    OrgKeyInputSerializer,
    OrgKeySerializer,
)
from keys.models import Key, OrgKey
from keys.selectors import key_get, key_list, org_key_get, org_key_list
from keys.services import key_create, key_revoke, key_rotate, org_key_create, org_key_revoke


class AgentKeyView(ManagementView):
    """Base of the views under /v1/agents/{agent_id}/keys: the agent must be live and the tenant's."""

    def get_agent(self, agent_id: str) -> Agent:
        return self.found(agent_get(tenant_id=self.tenant_id, agent_id=agent_id), "agent")

    def get_key(self, agent_id: str, key_id: str) -> Key:
        agent = self.get_agent(agent_id)
        return self.found(key_get(tenant_id=self.tenant_id, agent_id=agent.pk, key_id=key_id), "key")


class KeyListView(AgentKeyView):
    @extend_schema(operation_id="key_list", parameters=LIST_PARAMETERS, responses=list_of(KeySerializer))
    def get(self, request: Request, agent_id: str) -> Response:
        agent = self.get_agent(agent_id)
        return self.page(key_list(tenant_id=self.tenant_id, agent_id=agent.pk), KeySerializer)

    @extend_schema(
        operation_id="key_create",
        description="The answer holds `key`, the secret, this once; it is never shown again.",
        request=KeyInputSerializer,
        responses={201: KeyCreatedSerializer},
    )
    def post(self, request: Request, agent_id: str) -> Response:
        agent = self.get_agent(agent_id)
        key, secret = key_create(agent=agent, actor=self.actor, **self.validated(KeyInputSerializer))
        return Response(KeyCreatedSerializer(key, context={"secret": secret}).data, status=201)


class KeyDetailView(AgentKeyView):
    @extend_schema(operation_id="key_get", responses=KeySerializer)
    def get(self, request: Request, agent_id: str, key_id: str) -> Response:
        return Response(KeySerializer(self.get_key(agent_id, key_id)).data)

    @extend_schema(operation_id="key_revoke", description="Revokes the key now (idempotent).", responses={204: None})
    def delete(self, request: Request, agent_id: str, key_id: str) -> Response:
        key_revoke(key=self.get_key(agent_id, key_id), actor=self.actor)
        return Response(status=204)


class KeyRotateView(AgentKeyView):
    @extend_schema(
        operation_id="key_rotate",
        description=(
            "Issues a new key with the same settings (a new `id` and `key` secret, shown this once). "
            "The old secret keeps working for `grace_seconds`, then answers 401 key_revoked; "
            "the old key shows `rotated_to`."
        ),
        request=KeyRotateInputSerializer,
        responses={201: KeyCreatedSerializer},
    )
    def post(self, request: Request, agent_id: str, key_id: str) -> Response:
        key = self.get_key(agent_id, key_id)
        new_key, secret = key_rotate(key=key, actor=self.actor, **self.validated(KeyRotateInputSerializer))
        return Response(KeyCreatedSerializer(new_key, context={"secret": secret}).data, status=201)


class OrgKeyListView(ManagementView):
    admin_only = True

    @extend_schema(operation_id="org_key_list", parameters=LIST_PARAMETERS, responses=list_of(OrgKeySerializer))
    def get(self, request: Request) -> Response:
        return self.page(org_key_list(tenant_id=self.tenant_id), OrgKeySerializer)

    @extend_schema(
        operation_id="org_key_create",
        description="The answer holds `key`, the `aid_org_…` secret, this once; it is never shown again.",
        request=OrgKeyInputSerializer,
        responses={201: OrgKeyCreatedSerializer},
    )
    def post(self, request: Request) -> Response:
        org_key, secret = org_key_create(
            tenant_id=self.tenant_id, actor=self.actor, **self.validated(OrgKeyInputSerializer)
        )
        return Response(OrgKeyCreatedSerializer(org_key, context={"secret": secret}).data, status=201)


class OrgKeyDetailView(ManagementView):
    admin_only = True

    def get_org_key(self, org_key_id: str) -> OrgKey:
        return self.found(org_key_get(tenant_id=self.tenant_id, org_key_id=org_key_id), "org key")

    @extend_schema(operation_id="org_key_get", responses=OrgKeySerializer)
    def get(self, request: Request, org_key_id: str) -> Response:
        return Response(OrgKeySerializer(self.get_org_key(org_key_id)).data)

    @extend_schema(
        operation_id="org_key_revoke",
        description=(
            "Revokes the org key now (idempotent). Removing the tenant's last admin credential "
            "(admin org key or console admin) answers 400 invalid_request, reason last_admin."
        ),
        responses={204: None},
    )
    def delete(self, request: Request, org_key_id: str) -> Response:
        org_key_revoke(org_key=self.get_org_key(org_key_id), actor=self.actor)
        return Response(status=204)
