"""Usage (SPEC 5.8), end users and their conversations, compliance reports."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.http import HttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from analytics.api.serializers import (
    ConversationSerializer,
    EndUserSerializer,
    ReportInputSerializer,
    ReportSerializer,
    UsageSerializer,
    usage_body,
)
from analytics.models import Framework, Report, ReportStatus
from analytics.rendering import report_html, report_pdf
from analytics.report_requests import report_create
from analytics.selectors import (
    GROUP_BY,
    conversation_page,
    end_user_page,
    end_user_seen,
    report_get,
    report_list,
    usage_summary,
)
from core.api.pagination import list_body, page_limit
from core.api.schema import LIST_PARAMETERS, ErrorEnvelopeSerializer, list_of
from core.api.views import ManagementView
from core.errors import GatewayError, invalid_request
from identity.selectors import agent_get

DEFAULT_WINDOW = timedelta(days=30)
REPORT_FORMATS = ("html", "pdf", "json")
# The HTML report shows tenant data (names, emails); it needs nothing but its inline styles.
REPORT_HTML_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"

WINDOW_PARAMETERS = [
    OpenApiParameter("since", str, description="ISO 8601 time or date (UTC), inclusive; default: `until` - 30 days"),
    OpenApiParameter(
        "until", str, description="ISO 8601 time or date (UTC), exclusive; default: now; at most 400 days after `since`"
    ),
]
USAGE_PARAMETERS = [*WINDOW_PARAMETERS, OpenApiParameter("group_by", str, enum=list(GROUP_BY))]
RECORD_FILTERS = [
    OpenApiParameter("app_id", str, description="only requests made through this app"),
    OpenApiParameter("agent_id", str, description="only requests made by this agent"),
]
USER_WINDOW = [
    OpenApiParameter("since", str, description="ISO 8601 time or date (UTC); default: every retained record"),
    OpenApiParameter("until", str, description="ISO 8601 time or date (UTC), exclusive"),
]


def moment_param(params: Any, name: str) -> datetime | None:
    """An ISO 8601 time (naive means UTC) or a date (its midnight, UTC) from the query string."""
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    try:
        moment = parse_datetime(raw)
        if moment is None and (day := parse_date(raw)) is not None:
            moment = datetime.combine(day, time.min)
    except ValueError:
        moment = None
    if moment is None:
        raise invalid_request(f"{name}: expected an ISO 8601 time or date", f"invalid_{name}")
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)


def usage_params(params: Any) -> dict[str, Any]:
    """The window and grouping asked for; defaults and bounds are usage_summary's (SPEC 5.8)."""
    return {
        "since": moment_param(params, "since"),
        "until": moment_param(params, "until"),
        "group_by": params.get("group_by") or None,
    }


class UsageView(ManagementView):
    @extend_schema(operation_id="usage_get", parameters=USAGE_PARAMETERS, responses=UsageSerializer)
    def get(self, request: Request) -> Response:
        """Totals of the tenant's requests over a window, optionally grouped; exact right after a request."""
        summary = usage_summary(tenant_id=self.tenant_id, **usage_params(request.query_params))
        return Response(usage_body(summary))


class AgentUsageView(ManagementView):
    @extend_schema(operation_id="agent_usage_get", parameters=USAGE_PARAMETERS, responses=UsageSerializer)
    def get(self, request: Request, agent_id: str) -> Response:
        """The usage of one agent, as `GET /v1/usage`."""
        agent = self.found(agent_get(tenant_id=self.tenant_id, agent_id=agent_id), "agent")
        summary = usage_summary(tenant_id=self.tenant_id, agent_id=agent.id, **usage_params(request.query_params))
        return Response(usage_body(summary))


def _record_filters(params: Any) -> dict[str, Any]:
    return {
        "since": moment_param(params, "since"),
        "until": moment_param(params, "until"),
        "app_id": params.get("app_id") or None,
        "agent_id": params.get("agent_id") or None,
    }


class EndUserListView(ManagementView):
    @extend_schema(
        operation_id="end_user_list",
        parameters=[
            *LIST_PARAMETERS, *USER_WINDOW, *RECORD_FILTERS,
            OpenApiParameter("email_domain", str, description="only identities ending in @this-domain"),
        ],
        responses=list_of(EndUserSerializer),
    )  # fmt: skip
    def get(self, request: Request) -> Response:
        """End users seen in the tenant's records, most recently seen first, with their totals."""
        params = request.query_params
        items, has_more = end_user_page(
            tenant_id=self.tenant_id, limit=page_limit(params.get("limit")), after=params.get("after"),
            email_domain=params.get("email_domain") or None, **_record_filters(params),
        )  # fmt: skip
        return Response(list_body(EndUserSerializer(items, many=True).data, has_more))


class ConversationListView(ManagementView):
    @extend_schema(
        operation_id="end_user_conversation_list",
        parameters=[*LIST_PARAMETERS, *USER_WINDOW, *RECORD_FILTERS],
        responses=list_of(ConversationSerializer),
    )
    def get(self, request: Request, user: str) -> Response:
        """The conversations of one end user, most recently active first; 404 for an identity never seen."""
        if not end_user_seen(tenant_id=self.tenant_id, user=user):
            self.found(None, "end user")
        params = request.query_params
        items, has_more = conversation_page(
            tenant_id=self.tenant_id, user=user, limit=page_limit(params.get("limit")), after=params.get("after"),
            **_record_filters(params),
        )  # fmt: skip
        return Response(list_body(ConversationSerializer(items, many=True).data, has_more))


class ReportListView(ManagementView):
    @extend_schema(
        operation_id="report_list",
        description="Newest first.",
        parameters=[
            *LIST_PARAMETERS,
            OpenApiParameter("framework", str, enum=list(Framework.values)),
            OpenApiParameter("status", str, enum=list(ReportStatus.values)),
        ],
        responses=list_of(ReportSerializer),
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        reports = report_list(tenant_id=self.tenant_id, framework=params.get("framework"), status=params.get("status"))
        return self.page(reports, ReportSerializer, newest_first=True)

    @extend_schema(
        operation_id="report_create",
        description="Queues the report (202); poll `GET /v1/reports/{id}` until `status` is `ready` or `failed`.",
        request=ReportInputSerializer,
        responses={202: ReportSerializer},
    )
    def post(self, request: Request) -> Response:
        data = self.validated(ReportInputSerializer)
        until = data.get("until") or timezone.now()
        since = data.get("since") or until - DEFAULT_WINDOW
        report = report_create(
            tenant_id=self.tenant_id, actor=self.actor, framework=data["framework"], since=since, until=until
        )
        # Without a broker the report was built inline when the request committed.
        report.refresh_from_db()
        return Response(ReportSerializer(report).data, status=202)


class ReportView(ManagementView):
    def get_report(self, report_id: str) -> Report:
        return self.found(report_get(tenant_id=self.tenant_id, report_id=report_id), "report")


class ReportDetailView(ReportView):
    @extend_schema(operation_id="report_get", responses=ReportSerializer)
    def get(self, request: Request, report_id: str) -> Response:
        return Response(ReportSerializer(self.get_report(report_id)).data)


class ReportDownloadView(ReportView):
    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[Any, str]:
        # ``format`` names the document here, not a DRF renderer; errors still answer JSON.
        renderer = JSONRenderer()
        return renderer, renderer.media_type

    @extend_schema(
        operation_id="report_download",
        parameters=[OpenApiParameter("format", str, enum=list(REPORT_FORMATS), description="default: pdf")],
        responses={
            (200, "application/pdf"): OpenApiTypes.BINARY,
            (200, "text/html"): OpenApiTypes.STR,
            (200, "application/json"): ReportSerializer,
            409: ErrorEnvelopeSerializer,
        },
    )
    def get(self, request: Request, report_id: str) -> HttpResponse | Response:
        """The report as a document: `pdf` (attachment), `html` (inline) or `json`; 409 until it is ready."""
        fmt = request.query_params.get("format") or "pdf"
        if fmt not in REPORT_FORMATS:
            raise invalid_request(f"format: must be one of {', '.join(REPORT_FORMATS)}", "invalid_format")
        report = self.get_report(report_id)
        if report.status != ReportStatus.READY:
            raise GatewayError(409, "invalid_request", f"the report is {report.status}", "report_not_ready")
        if fmt == "json":
            return Response(ReportSerializer(report).data)
        if fmt == "html":
            response = HttpResponse(report_html(report), content_type="text/html; charset=utf-8")
            response["Content-Disposition"] = f'inline; filename="{report.id}.html"'
            response["Content-Security-Policy"] = REPORT_HTML_POLICY
            return response
        response = HttpResponse(report_pdf(report), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{report.id}.pdf"'
        return response
