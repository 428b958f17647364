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
    JwtRevocationInputSerializer,
    JwtRevocationSerializer,
    PolicyInputSerializer,
    PolicySerializer,
)
from apps.models import App, JwtRevocation, Policy
from apps.selectors import app_get, app_list, jwt_revocation_get, jwt_revocation_list, policy_get, policy_list
from apps.services import (
    app_create,
    app_delete,
    app_update,
    guardrails_get,
    guardrails_put,
    jwt_revocation_create,
    jwt_revocation_delete,
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


class JwtRevocationView(ManagementView):
    """Base of the views under /v1/apps/{app_id}/jwt-revocations: the app must be the tenant's."""

    def get_app(self, app_id: str) -> App:
        return self.found(app_get(tenant_id=self.tenant_id, app_id=app_id), "app")


class JwtRevocationListView(JwtRevocationView):
    @extend_schema(
        operation_id="jwt_revocation_list",
        description="The app's live JWT revocations; expired ones are no longer listed.",
        parameters=LIST_PARAMETERS,
        responses=list_of(JwtRevocationSerializer),
    )
    def get(self, request: Request, app_id: str) -> Response:
        app = self.get_app(app_id)
        return self.page(jwt_revocation_list(tenant_id=self.tenant_id, app_id=app.pk), JwtRevocationSerializer)

    @extend_schema(
        operation_id="jwt_revocation_create",
        description=(
            "Revokes one token (`jti`) or every token of a subject (`sub`) issued at or before now; a token "
            "without `iat` counts as issued before. Revoked tokens answer 401 token_revoked on every gateway "
            "process within one second."
        ),
        request=JwtRevocationInputSerializer,
        responses={201: JwtRevocationSerializer},
    )
    def post(self, request: Request, app_id: str) -> Response:
        app = self.get_app(app_id)
        revocation = jwt_revocation_create(app=app, actor=self.actor, **self.validated(JwtRevocationInputSerializer))
        return Response(JwtRevocationSerializer(revocation).data, status=201)


class JwtRevocationDetailView(JwtRevocationView):
    def get_revocation(self, app_id: str, revocation_id: str) -> JwtRevocation:
        app = self.get_app(app_id)
        revocation = jwt_revocation_get(tenant_id=self.tenant_id, app_id=app.pk, revocation_id=revocation_id)
        return self.found(revocation, "JWT revocation")

    @extend_schema(operation_id="jwt_revocation_get", responses=JwtRevocationSerializer)
    def get(self, request: Request, app_id: str, revocation_id: str) -> Response:
        return Response(JwtRevocationSerializer(self.get_revocation(app_id, revocation_id)).data)

    @extend_schema(
        operation_id="jwt_revocation_delete",
        description="Lifts the revocation: the tokens it named are accepted again if otherwise valid.",
        responses={204: None},
    )
    def delete(self, request: Request, app_id: str, revocation_id: str) -> Response:
        jwt_revocation_delete(revocation=self.get_revocation(app_id, revocation_id), actor=self.actor)
        return Response(status=204)


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
