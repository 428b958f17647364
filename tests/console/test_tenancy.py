"""The shared console machinery of core.admin_tenancy, tested on its own."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError

from core.admin_forms import TenantScopedForm
from core.admin_refusals import refusal_text
from core.errors import invalid_request
from identity.models import Agent
from tenants.access import ConsoleAccess, console_access
from tests import factories


class AgentNameForm(TenantScopedForm):
    class Meta:
        model = Agent
        fields = ["name"]


def _request(rf, user):
    request = rf.get("/admin/")
    request.user = user
    return request


def test_it_gives_superusers_every_tenant_and_staff_their_membership(rf, owner, member, superuser, tenant):
    assert console_access(_request(rf, superuser)) == ConsoleAccess(tenant_id=None, role="admin")
    assert console_access(_request(rf, owner)) == ConsoleAccess(
        tenant_id=tenant.pk, role="admin", home_tenant_id=tenant.pk
    )
    assert console_access(_request(rf, member)) == ConsoleAccess(
        tenant_id=tenant.pk, role="viewer", home_tenant_id=tenant.pk
    )
    assert not console_access(_request(rf, member)).can_write


def test_it_gives_no_access_without_membership_staff_flag_or_login(rf, owner, db):
    assert console_access(_request(rf, AnonymousUser())) is None
    owner.is_staff = False
    assert console_access(_request(rf, owner)) is None
    loner = factories.make_console_user(factories.make_tenant())
    loner.membership.delete()
    loner.refresh_from_db()
    assert console_access(_request(rf, loner)) is None


def test_it_shows_errors_about_fields_the_form_lacks_at_the_top(tenant):
    form = AgentNameForm(data={"name": "a"})
    assert form.is_valid()
    form._update_errors(ValidationError({"app_id": "names no app of this tenant", "name": "too plain"}))
    assert form.errors["name"] == ["too plain"]
    assert form.non_field_errors() == ["app_id: names no app of this tenant"]


def test_it_fixes_the_tenant_of_a_new_object_before_validation(tenant):
    bound = type("Bound", (AgentNameForm,), {"console_tenant_id": tenant.pk})
    assert bound(data={"name": "a"}).instance.tenant_id == tenant.pk


def test_it_words_refusals_for_a_message():
    assert refusal_text(ValidationError({"scopes": "must not be empty"})) == "scopes: must not be empty"
    assert refusal_text(invalid_request("the slug is taken", "slug_taken")) == "the slug is taken"
