"""The forensic endpoints (SPEC 5.7): request logs, their export, the audit chain's
verification and public key, and the management audit trail (``GET /v1/events``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer

from core.api.pagination import list_body, page_limit
from core.api.schema import LIST_PARAMETERS, ErrorEnvelopeSerializer, list_of
from core.api.views import ManagementView
from forensics.api.serializers import (
    AuditVerificationSerializer,
    EventSerializer,
    ExportCheckpointSerializer,
    ExportFormat,
    ExportHeaderSerializer,
    ExportRecordSerializer,
    LogDetailSerializer,
    LogExportQuerySerializer,
    LogFilterSerializer,
    LogListQuerySerializer,
    LogSerializer,
    PublicKeySerializer,
)
from forensics.export import export_csv, export_jsonl
from forensics.sealing import audit_chain_verify
from forensics.selectors import LogFilters, event_list, log_get, log_list, log_page
from forensics.signing import public_key_pem

EVENT_FILTERS = [
    OpenApiParameter("object_id", str, OpenApiParameter.QUERY, description="events of one object"),
    OpenApiParameter("action", str, OpenApiParameter.QUERY, description="e.g. key.created, policy.updated"),
    OpenApiParameter("object_type", str, OpenApiParameter.QUERY, description="e.g. key, agent, policy"),
]
# Bodies are capped but can still be large; lists never load them (the detail does).
BODY_FIELDS = ("request_body", "response_body")
EXPORT_CHUNK_BYTES = 64 * 1024
EXPORT_CONTENT_TYPES = {ExportFormat.JSONL: "application/x-ndjson", ExportFormat.CSV: "text/csv; charset=utf-8"}


class EventListView(ManagementView):
    @extend_schema(
        operation_id="event_list",
        description="Newest first, like the request logs.",
        parameters=[*LIST_PARAMETERS, *EVENT_FILTERS],
        responses=list_of(EventSerializer),
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        events = event_list(
            tenant_id=self.tenant_id,
            object_id=params.get("object_id"),
            action=params.get("action"),
            object_type=params.get("object_type"),
        )
        return self.page(events, EventSerializer, newest_first=True)


# --- Request logs ---


class LogQueryMixin:
    """Reads the filters of SPEC 5.7 from the query string. A misspelt parameter is refused
    (400) rather than ignored: ignoring it would silently widen a forensic query."""

    def log_query(
        self, serializer_class: type[Serializer], *, agent_id: str | None = None
    ) -> tuple[LogFilters, dict[str, Any]]:
        """The filters, and every validated parameter (``format`` of the export, …)."""
        serializer = serializer_class(data=self.request.query_params)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        names = LogFilterSerializer().fields.keys()
        return LogFilters(agent_id=agent_id, **{name: data.get(name) for name in names}), data

    def log_page_response(self, filters: LogFilters) -> Response:
        """A page of the tenant's records, newest first, without their bodies."""
        params = self.request.query_params
        page = log_page(
            tenant_id=self.tenant_id, filters=filters, limit=page_limit(params.get("limit")),
            after=params.get("after"), defer=BODY_FIELDS,
        )  # fmt: skip
        return Response(list_body(LogSerializer(page.items, many=True).data, page.has_more))


LOGS_DESCRIPTION = (
    "Newest first (`created_at`, then `id`, descending); `after` is the `last_id` of the previous page. "
    "Filters match exactly and combine with AND; `since` is inclusive, `until` exclusive. "
    "A record is listed as soon as its response has been sent."
)


class LogListView(LogQueryMixin, ManagementView):
    @extend_schema(
        operation_id="log_list",
        description=LOGS_DESCRIPTION,
        parameters=[*LIST_PARAMETERS, LogFilterSerializer],
        responses=list_of(LogSerializer),
    )
    def get(self, request: Request) -> Response:
        filters, _ = self.log_query(LogListQuerySerializer)
        return self.log_page_response(filters)


class LogDetailView(ManagementView):
    @extend_schema(operation_id="log_get", responses=LogDetailSerializer)
    def get(self, request: Request, request_id: str) -> Response:
        record = self.found(log_get(tenant_id=self.tenant_id, request_id=request_id), "request log")
        return Response(LogDetailSerializer(record).data)


class JsonErrorsOnly(BaseContentNegotiation):
    """The export chooses its format with ``?format=`` (which DRF would otherwise read as a
    renderer override and answer 404) and ignores ``Accept``; its errors are JSON."""

    def select_renderer(self, request: Request, renderers: list, format_suffix: str | None = None) -> tuple:
        renderer = JSONRenderer()
        return renderer, renderer.media_type


def byte_batches(parts: Iterator[bytes], size: int = EXPORT_CHUNK_BYTES) -> Iterator[bytes]:
    """Join small parts (one JSONL line each) into chunks of about ``size`` bytes."""
    batch: list[bytes] = []
    length = 0
    try:
        for part in parts:
            batch.append(part)
            length += len(part)
            if length >= size:
                yield b"".join(batch)
                batch, length = [], 0
        if batch:
            yield b"".join(batch)
    finally:
        close = getattr(parts, "close", None)
        if close is not None:
            close()


async def pulled_in_thread(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """An async iterator over a sync one, one chunk at a time, in the request's own thread
    (``thread_sensitive``: the database cursor stays on the connection that opened it).

    Under ASGI, Django reads a sync iterator whole into a list before sending it; this keeps
    memory at one chunk whatever the export's size.
    """
    pull = sync_to_async(next, thread_sensitive=True)
    try:
        while (chunk := await pull(chunks, None)) is not None:
            yield chunk
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            await sync_to_async(close, thread_sensitive=True)()


def streaming_body(request: Request, parts: Iterator[bytes]) -> Iterator[bytes] | AsyncIterator[bytes]:
    """The body of a streamed export, shaped for the server: async under ASGI, sync under WSGI."""
    chunks = byte_batches(parts)
    return pulled_in_thread(chunks) if isinstance(request._request, ASGIRequest) else chunks


EXPORT_200 = (
    "`format=jsonl`: JSON Lines, each line one of the objects below, told apart by `type`. "
    "`format=csv`: CSV with a header row. Sent as `Content-Disposition: attachment`."
)


class LogExportView(LogQueryMixin, ManagementView):
    content_negotiation_class = JsonErrorsOnly

    @extend_schema(
        operation_id="log_export",
        description=(
            "The records matching the filters, streamed in constant memory whatever their number, oldest first: "
            "sealed records in chain order, then those not sealed yet.\n\n"
            "`format=jsonl` (default): one JSON object per line — an `export` header (tenant, signing public key, "
            "`complete`: true only without filters), one `record` line per record with its chain values, then the "
            "tenant's signed `checkpoint`s. An unfiltered export verifies offline: "
            "`manage.py verify_audit --file EXPORT --public-key key.pem`.\n\n"
            "`format=csv`: a header row and one row per record (lists as JSON; text that a spreadsheet would run "
            "as a formula is prefixed with `'`)."
        ),
        parameters=[LogExportQuerySerializer],
        responses={
            (200, "application/x-ndjson"): OpenApiResponse(
                PolymorphicProxySerializer(
                    component_name="ExportLine",
                    serializers={
                        "export": ExportHeaderSerializer,
                        "record": ExportRecordSerializer,
                        "checkpoint": ExportCheckpointSerializer,
                    },
                    resource_type_field_name="type",
                ),
                description=EXPORT_200,
            ),
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description=EXPORT_200),
            400: OpenApiResponse(ErrorEnvelopeSerializer, description="invalid_request: a bad or unknown parameter"),
        },
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        filters, params = self.log_query(LogExportQuerySerializer)
        export_format = ExportFormat(params["format"])
        logs = log_list(tenant_id=self.tenant_id, filters=filters)
        if export_format == ExportFormat.CSV:
            parts = export_csv(logs, tenant_id=self.tenant_id)
        else:
            parts = export_jsonl(logs, tenant_id=self.tenant_id, complete=not filters.narrows)
        content_type = EXPORT_CONTENT_TYPES[export_format]
        response = StreamingHttpResponse(streaming_body(request, parts), content_type=content_type)
        filename = f"aidgate-logs-{self.tenant_id}-{timezone.now():%Y%m%dT%H%M%SZ}.{export_format.value}"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["Cache-Control"] = "no-store"
        return response


# --- The audit chain ---


class AuditVerifyView(ManagementView):
    @extend_schema(
        operation_id="audit_verify",
        description=(
            "Recomputes the caller's sealed chain record by record against its hashes and signed checkpoints. "
            "Records are sealed within seconds of their request (by the beat task or the in-process sealer); "
            "records not sealed yet are not part of the answer. `first_invalid` names the first record that was "
            "changed, deleted around or reordered; it is null, with `valid` false, when no single record is to "
            "blame (a forged checkpoint, or records cut off the end of the chain)."
        ),
        responses=AuditVerificationSerializer,
    )
    def get(self, request: Request) -> Response:
        verdict = audit_chain_verify(tenant_id=self.tenant_id)
        body: dict[str, Any] = {
            "valid": verdict.valid,
            "checked": verdict.checked,
            "first_invalid": verdict.first_invalid,
            "problem": verdict.problem,
            "checkpoint": verdict.checkpoint,
            "unsigned": verdict.unsigned,
        }
        return Response(AuditVerificationSerializer(body).data)


class AuditPublicKeyView(ManagementView):
    @extend_schema(
        operation_id="audit_public_key",
        description=(
            "The PEM of the Ed25519 key that signs checkpoints, so that a third party can verify an export "
            "offline (`jq -r .pem > key.pem`)."
        ),
        responses=PublicKeySerializer,
    )
    def get(self, request: Request) -> Response:
        key = {"object": "public_key", "algorithm": "Ed25519", "pem": public_key_pem()}
        return Response(PublicKeySerializer(key).data)
