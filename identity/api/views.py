"""Agents (SPEC 5.2): list, create, read, change, soft-delete, and the requests of one agent."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.schema import LIST_PARAMETERS, list_of
from core.api.views import ManagementView
from core.errors import not_found
from forensics.api.serializers import LogFilterSerializer, LogListQuerySerializer, LogSerializer
from forensics.api.views import LOGS_DESCRIPTION, LogQueryMixin
from identity.api.serializers import (
    AgentIdentitySerializer,
    AgentInputSerializer,
    AgentSerializer,
    JwksSerializer,
)
from identity.models import Agent
from identity.selectors import agent_get, agent_known, agent_list, identity_jwks
from identity.services import (
    agent_create,
    agent_delete,
    agent_identity_document,
    agent_identity_token,
    agent_update,
)


class AgentListView(ManagementView):
    @extend_schema(operation_id="agent_list", parameters=LIST_PARAMETERS, responses=list_of(AgentSerializer))
    def get(self, request: Request) -> Response:
        return self.page(agent_list(tenant_id=self.tenant_id), AgentSerializer)

    @extend_schema(operation_id="agent_create", request=AgentInputSerializer, responses={201: AgentSerializer})
    def post(self, request: Request) -> Response:
        data = self.validated(AgentInputSerializer)
        agent = agent_create(tenant_id=self.tenant_id, actor=self.actor, **data)
        return Response(AgentSerializer(agent).data, status=201)


class AgentDetailView(ManagementView):
    def get_agent(self, agent_id: str) -> Agent:
        return self.found(agent_get(tenant_id=self.tenant_id, agent_id=agent_id), "agent")

    @extend_schema(operation_id="agent_get", responses=AgentSerializer)
    def get(self, request: Request, agent_id: str) -> Response:
        return Response(AgentSerializer(self.get_agent(agent_id)).data)

    @extend_schema(operation_id="agent_update", request=AgentInputSerializer, responses=AgentSerializer)
    def patch(self, request: Request, agent_id: str) -> Response:
        agent = self.get_agent(agent_id)
        agent = agent_update(agent=agent, actor=self.actor, data=self.validated(AgentInputSerializer, partial=True))
        return Response(AgentSerializer(agent).data)

    @extend_schema(
        operation_id="agent_delete",
        description="Soft delete: the agent leaves every list, its keys are revoked, its logs stay.",
        responses={204: None},
    )
    def delete(self, request: Request, agent_id: str) -> Response:
        agent_delete(agent=self.get_agent(agent_id), actor=self.actor)
        return Response(status=204)


class AgentLogListView(LogQueryMixin, ManagementView):
    @extend_schema(
        operation_id="agent_log_list",
        description=f"The requests of one agent (a deleted agent's too: its logs stay). {LOGS_DESCRIPTION}",
        parameters=[*LIST_PARAMETERS, LogFilterSerializer],
        responses=list_of(LogSerializer),
    )
    def get(self, request: Request, agent_id: str) -> Response:
        if not agent_known(tenant_id=self.tenant_id, agent_id=agent_id):
            raise not_found("no such agent")
        filters, _ = self.log_query(LogListQuerySerializer, agent_id=agent_id)
        return self.log_page_response(filters)


class AgentIdentityView(ManagementView):
    @extend_schema(
        operation_id="agent_identity_get",
        description="The agent's identity document, its fingerprint, and `token`: the same claims as "
        "`X-Agent-Identity` without `jti` and `aud`, signed, valid 24 hours (SPEC 3.10).",
        responses=AgentIdentitySerializer,
    )
    def get(self, request: Request, agent_id: str) -> Response:
        agent = self.found(agent_get(tenant_id=self.tenant_id, agent_id=agent_id), "agent")
        token = agent_identity_token(agent, base_url=request.build_absolute_uri("/"))
        body = {"agent": agent_identity_document(agent), "fingerprint": agent.fingerprint, "token": token}
        return Response(AgentIdentitySerializer(body).data)


class JwksView(APIView):
    """Public: anyone verifies an agent's identity with these keys, without a credential."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    public = True

    @extend_schema(
        operation_id="identity_jwks",
        description="The public keys (JWKS) that verify `X-Agent-Identity` and agent identity tokens; "
        "`kid` is each key's RFC 7638 thumbprint. A retired key stays here for 24 hours.",
        auth=[],
        responses=JwksSerializer,
    )
    def get(self, request: Request) -> Response:
        # Fetched again by verifiers on an unknown kid: a rotated-in key must never be cached away.
        return Response(identity_jwks(), headers={"Cache-Control": "no-cache"})
