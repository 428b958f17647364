"""The management audit trail (SPEC 5.7, ``GET /v1/events``)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.schema import LIST_PARAMETERS, list_of
from core.api.views import ManagementView
from forensics.api.serializers import EventSerializer
from forensics.selectors import event_list

EVENT_FILTERS = [
    OpenApiParameter("object_id", str, OpenApiParameter.QUERY, description="events of one object"),
    OpenApiParameter("action", str, OpenApiParameter.QUERY, description="e.g. key.created, policy.updated"),
    OpenApiParameter("object_type", str, OpenApiParameter.QUERY, description="e.g. key, agent, policy"),
]


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
