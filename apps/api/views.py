"""Apps (SPEC 5.1), their guardrails (5.6) and policies (5.4)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api.serializers import (
    AppInputSerializer,
    AppSerializer,
    GuardrailsInputSerializer,
    GuardrailsSerializer,
    PolicyInputSerializer,
    PolicySerializer,
)
from apps.models import App, Policy
from apps.selectors import app_get, app_list, policy_get, policy_list
from apps.services import (
    app_create,
    app_delete,
    app_update,
    guardrails_get,
    guardrails_put,
    policy_create,
    policy_delete,
    policy_update,
)
from core.api.schema import LIST_PARAMETERS, list_of
from core.api.views import ManagementView
from core.errors import not_found


class AppListView(ManagementView):
    @extend_schema(operation_id="app_list", parameters=LIST_PARAMETERS, responses=list_of(AppSerializer))
    def get(self, request: Request) -> Response:
        return self.page(app_list(tenant_id=self.tenant_id), AppSerializer)

    @extend_schema(
        operation_id="app_create",
        description="A taken slug answers 400 invalid_request, reason slug_taken.",
        request=AppInputSerializer,
        responses={201: AppSerializer},
    )
    def post(self, request: Request) -> Response:
        app = app_create(tenant_id=self.tenant_id, actor=self.actor, **self.validated(AppInputSerializer))
        return Response(AppSerializer(app).data, status=201)


class AppDetailView(ManagementView):
    def get_app(self, app_id: str) -> App:
        return self.found(app_get(tenant_id=self.tenant_id, app_id=app_id), "app")

    @extend_schema(operation_id="app_get", responses=AppSerializer)
    def get(self, request: Request, app_id: str) -> Response:
        return Response(AppSerializer(self.get_app(app_id)).data)

    @extend_schema(operation_id="app_update", request=AppInputSerializer, responses=AppSerializer)
    def patch(self, request: Request, app_id: str) -> Response:
        app = self.get_app(app_id)
        app = app_update(app=app, actor=self.actor, data=self.validated(AppInputSerializer, partial=True))
        return Response(AppSerializer(app).data)

    @extend_schema(
        operation_id="app_delete",
        description="Deletes the app with its guardrails and its app-scoped keys; agents of the app lose it.",
        responses={204: None},
    )
    def delete(self, request: Request, app_id: str) -> Response:
        app_delete(app=self.get_app(app_id), actor=self.actor)
        return Response(status=204)


class GuardrailsView(ManagementView):
    """Org admins read and write; viewers read; an agent key reads its own app's only."""

    agent_key_reads = True

    def get_app(self, app_id: str) -> App:
        app = self.found(app_get(tenant_id=self.tenant_id, app_id=app_id), "app")
        if self.principal.is_agent_key and app.pk != self.principal.agent_key_app_id:
            # Another app of the key's tenant is as invisible to it as an unknown one.
            raise not_found("no such app")
        return app

    @extend_schema(
        operation_id="guardrails_get",
        description="Also readable with an agent key, for the key's own app (the key's app, else its agent's).",
        responses=GuardrailsSerializer,
    )
    def get(self, request: Request, app_id: str) -> Response:
        return Response(GuardrailsSerializer(guardrails_get(app=self.get_app(app_id))).data)

    @extend_schema(
        operation_id="guardrails_put",
        description="Replaces the whole object. An agent key answers 403 guardrail_policy_forbidden.",
        request=GuardrailsInputSerializer,
        responses=GuardrailsSerializer,
    )
    def put(self, request: Request, app_id: str) -> Response:
        app = self.get_app(app_id)
        guardrails = guardrails_put(app=app, actor=self.actor, data=self.validated(GuardrailsInputSerializer))
        return Response(GuardrailsSerializer(guardrails).data)


class PolicyListView(ManagementView):
    @extend_schema(operation_id="policy_list", parameters=LIST_PARAMETERS, responses=list_of(PolicySerializer))
    def get(self, request: Request) -> Response:
        return self.page(policy_list(tenant_id=self.tenant_id), PolicySerializer)

    @extend_schema(operation_id="policy_create", request=PolicyInputSerializer, responses={201: PolicySerializer})
    def post(self, request: Request) -> Response:
        policy = policy_create(tenant_id=self.tenant_id, actor=self.actor, **self.validated(PolicyInputSerializer))
        return Response(PolicySerializer(policy).data, status=201)


class PolicyDetailView(ManagementView):
    def get_policy(self, policy_id: str) -> Policy:
        return self.found(policy_get(tenant_id=self.tenant_id, policy_id=policy_id), "policy")

    @extend_schema(operation_id="policy_get", responses=PolicySerializer)
    def get(self, request: Request, policy_id: str) -> Response:
        return Response(PolicySerializer(self.get_policy(policy_id)).data)

    @extend_schema(operation_id="policy_update", request=PolicyInputSerializer, responses=PolicySerializer)
    def patch(self, request: Request, policy_id: str) -> Response:
        policy = self.get_policy(policy_id)
        policy = policy_update(
            policy=policy, actor=self.actor, data=self.validated(PolicyInputSerializer, partial=True)
        )
        return Response(PolicySerializer(policy).data)

    @extend_schema(operation_id="policy_delete", responses={204: None})
    def delete(self, request: Request, policy_id: str) -> Response:
        policy_delete(policy=self.get_policy(policy_id), actor=self.actor)
        return Response(status=204)
