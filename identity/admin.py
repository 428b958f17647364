"""Console pages of agents.

Deleting an agent is soft (agent_delete sets ``deleted_at`` and revokes its keys): deleted
agents leave every list and every choice, but their records stay for the auditor.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import ActionLocation, RelatedOnlyFieldListFilter
from django.db.models import QuerySet
from django.http import HttpRequest

from core.actors import Actor
from core.admin_forms import TenantScopedForm, form_values
from core.admin_refusals import ServiceRefused, refusal_report, service_refusals
from identity.identity_keys import DOCUMENT_TOKEN_SECONDS
from identity.models import Agent, AgentStatus
from identity.services import AGENT_FIELDS, agent_create, agent_delete, agent_identity_token, agent_update
from tenants.access import console_actor
from tenants.admin_base import TenantScopedAdmin

BOTH_LOCATIONS = [ActionLocation.CHANGE_LIST, ActionLocation.CHANGE_FORM]


class AgentForm(TenantScopedForm):
    class Meta:
        model = Agent
        fields = AGENT_FIELDS


@admin.register(Agent)
class AgentAdmin(TenantScopedAdmin):
    form = AgentForm
    fieldsets = [
        (None, {"fields": ["name", "description", "owner_email", "app", "status"]}),
        ("Access", {"fields": ["allowed_models"]}),
        ("Metadata", {"fields": ["metadata"]}),
        ("Identity", {"fields": ["id", "fingerprint", "created_at", "updated_at"]}),
    ]
    readonly_fields = ["id", "fingerprint", "created_at", "updated_at"]
    list_display = ["name", "status", "app", "owner_email", "id", "created_at", "tenant"]
    list_filter = ["status", ("app", RelatedOnlyFieldListFilter), ("tenant", RelatedOnlyFieldListFilter)]
    search_fields = ["name", "id", "owner_email", "fingerprint", "tenant__name"]
    list_select_related = ["app", "tenant"]
    actions = ["suspend_agents", "reactivate_agents"]

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Agent | None = None,
    ) -> Any:
        # The agent's signed identity (SPEC 3.10), as GET /v1/agents/{id}/identity signs it:
        # only on the page of an agent the user may see (get_queryset already answered an
        # agent of another tenant as an unknown one). Signing writes nothing.
        if obj is not None and not add and self.has_view_permission(request, obj):
            context["identity_token"] = agent_identity_token(obj, base_url=request.build_absolute_uri("/"))
            context["identity_token_hours"] = DOCUMENT_TOKEN_SECONDS // 3600
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Agent]:
        # Also the source of agent choices in other forms (keys, policies): no deleted agents.
        return super().get_queryset(request).filter(deleted_at=None)

    def service_create(self, request: HttpRequest, obj: Agent, form: forms.ModelForm, actor: Actor) -> Agent:
        fields = form_values(form, AGENT_FIELDS)
        return agent_create(tenant_id=obj.tenant_id, actor=actor, name=fields.pop("name"), **fields)

    def service_update(self, request: HttpRequest, current: Agent, form: forms.ModelForm, actor: Actor) -> Agent:
        return agent_update(agent=current, actor=actor, data=form_values(form, AGENT_FIELDS))

    def service_delete(self, request: HttpRequest, obj: Agent, actor: Actor) -> None:
        agent_delete(agent=obj, actor=actor)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[list, dict, set, list]:
        # Django would list the cascade of a hard delete; agent_delete removes nothing.
        agents = list(objs)
        summary = [f"{agent} (its keys are revoked; its records stay)" for agent in agents]
        return summary, {Agent._meta.verbose_name_plural: len(agents)}, set(), []

    def _set_status(self, request: HttpRequest, queryset: QuerySet[Agent], status: str) -> None:
        actor = console_actor(request)
        done = 0
        for agent in queryset:
            try:
                with service_refusals():
                    agent_update(agent=agent, actor=actor, data={"status": status})
            except ServiceRefused as refusal:
                refusal_report(request, agent, refusal)
                continue
            done += 1
        self.message_user(request, f"{done} agent(s) now {status}.", messages.SUCCESS)

    @admin.action(
        description="Suspend this agent",
        description_plural="Suspend selected agents",
        permissions=["write"],
        location=BOTH_LOCATIONS,
    )
    def suspend_agents(self, request: HttpRequest, queryset: QuerySet[Agent]) -> None:
        self._set_status(request, queryset, AgentStatus.SUSPENDED)

    @admin.action(
        description="Reactivate this agent",
        description_plural="Reactivate selected agents",
        permissions=["write"],
        location=BOTH_LOCATIONS,
    )
    def reactivate_agents(self, request: HttpRequest, queryset: QuerySet[Agent]) -> None:
        self._set_status(request, queryset, AgentStatus.ACTIVE)
