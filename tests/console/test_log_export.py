"""The log browser's export button: the current filter's records, as the API's export writes
them, and never another tenant's."""

from __future__ import annotations

import csv
import io
import json

from django.urls import reverse

from forensics.export import export_verify_file
from forensics.sealing import tenant_chain_seal
from tests.console.conftest import make_request_log

LOGS = reverse("console:logs")
EXPORT = reverse("console:logs-export")


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def csv_rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(body(response).decode())))


def test_the_log_browser_offers_the_export_of_its_current_filter(owner_client, owned):
    html = owner_client.get(LOGS, {"user": "bob@example.com", "status": "4xx"}).content.decode()
    assert f'href="{EXPORT}?format=csv&amp;user=bob%40example.com&amp;status=4xx"' in html
    assert f'href="{EXPORT}?format=jsonl&amp;user=bob%40example.com&amp;status=4xx"' in html


def test_it_exports_only_what_the_filters_select_as_csv(owner_client, owned):
    refused = make_request_log(owned.tenant, owned.agent, user="bob@example.com", status_code=429,
                               error_code="rate_limited", error_reason="requests_per_minute")  # fmt: skip
    make_request_log(owned.tenant, owned.agent, user="bob@example.com")
    response = owner_client.get(EXPORT, {"format": "csv", "user": "bob@example.com", "status": "4xx"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith(f'attachment; filename="aidgate-logs-{owned.tenant.id}-')
    assert [row["id"] for row in csv_rows(response)] == [refused.id]


def test_it_filters_by_agent_and_reason_which_the_api_export_has_not(owner_client, owned):
    wanted = make_request_log(owned.tenant, owned.agent, status_code=403, error_reason="model_not_allowed")
    make_request_log(owned.tenant, owned.agent, status_code=403, error_reason="endpoint_not_allowed")
    response = owner_client.get(EXPORT, {"agent": owned.agent.id, "reason": "model_not_allowed"})
    assert [row["id"] for row in csv_rows(response)] == [wanted.id]


def test_an_unfiltered_jsonl_export_verifies_offline(owner_client, owned):
    make_request_log(owned.tenant, owned.agent)
    tenant_chain_seal(tenant_id=owned.tenant.id)
    data = body(owner_client.get(EXPORT, {"format": "jsonl"})).decode()
    header = json.loads(data.splitlines()[0])
    assert (header["type"], header["tenant_id"], header["complete"]) == ("export", owned.tenant.id, True)
    verdict = export_verify_file(data.splitlines, None).verdict
    assert verdict.valid
    assert verdict.checked == 2


def test_a_filtered_jsonl_export_says_it_is_not_complete(owner_client, owned):
    data = body(owner_client.get(EXPORT, {"format": "jsonl", "reason": "rate_limited"})).decode()
    assert json.loads(data.splitlines()[0])["complete"] is False


def test_it_never_exports_another_tenants_records(stranger_client, owned, foreign):
    """Tenant staff export their own tenant, whatever the query names."""
    response = stranger_client.get(EXPORT, {"format": "csv", "tenant": owned.tenant.pk})
    ids = {row["id"] for row in csv_rows(response)}
    assert ids == {foreign.request_log.id}
    assert {row["tenant_id"] for row in csv_rows(stranger_client.get(EXPORT))} == {foreign.tenant.id}


def test_another_tenants_agent_as_a_filter_is_refused_like_an_unknown_one(stranger_client, owned, foreign):
    response = stranger_client.get(EXPORT, {"agent": owned.agent.id})
    assert response.status_code == 400
    assert stranger_client.get(EXPORT, {"agent": "ag_unknown"}).status_code == 400


def test_a_bad_format_is_refused(owner_client, owned):
    assert owner_client.get(EXPORT, {"format": "xlsx"}).status_code == 400


def test_it_needs_a_console_login(client, owned):
    response = client.get(EXPORT)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
