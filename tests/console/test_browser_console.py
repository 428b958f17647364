"""The console in a real browser (headless chromium through Playwright) against the live
gateway: the real ASGI application under uvicorn, serving Django's pages, static files and
the proxy on one origin, as ``make run`` does.

Skipped with the reason where no browser exists, failed where CI is set
(tests/support/requirements.py).
"""

from __future__ import annotations

import re

import httpx
import jwt
import pytest

from forensics.models import RequestLog
from keys.models import CredentialState, Key
from keys.services import key_verify
from tests import factories
from tests.console.conftest import admin_url, make_request_log
from tests.support.browser import chromium, console_login, eventually
from tests.support.requirements import needs_browser

pytestmark = needs_browser

SECRET_RE = re.compile(r"^aid_sk_[A-Za-z0-9]{32,}$")


@pytest.fixture(scope="module")
def browser():
    # Playwright's sync API keeps an event loop in this thread; Django would then refuse the
    # tests' own (synchronous, never concurrent) database calls as "async unsafe".
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with chromium() as browser:
            yield browser


@pytest.fixture
def site(gateway):
    """A tenant that can chat offline: default app, agent, key, mock provider, alias; and its admin."""
    tenant = factories.make_tenant("Browser Org")
    app = factories.make_app(tenant, slug="browser-app", is_default=True, capture_bodies=True)
    agent = factories.make_agent(tenant, name="browser-agent")
    key, secret = factories.make_key(agent)
    provider = factories.make_provider(tenant, kind="mock", models=["mock-*"])
    factories.make_alias(tenant, alias="smart-default", targets=[{"provider_id": provider.id, "model": "mock-1"}])
    admin = factories.make_console_user(tenant, email="admin@browser.example", role="admin")
    return type("Site", (), {"tenant": tenant, "app": app, "agent": agent, "key": key, "secret": secret,
                             "admin": admin, "url": gateway.url})  # fmt: skip


@pytest.fixture
def page(browser, site):
    context = browser.new_context(base_url=site.url)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


def test_it_logs_in_creates_an_agent_and_a_key_and_shows_the_secret_once(page, site):
    console_login(page, site.url, site.admin.username)
    # The admin's own CSS arrived: static files are served under uvicorn too.
    assert page.evaluate(
        "[...document.styleSheets].some(s => s.href && s.href.endsWith('/static/admin/css/base.css')"
        " && s.cssRules.length > 0)"
    )

    page.goto("/admin/identity/agent/add/")
    page.fill("#id_name", "made-in-the-browser")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")

    page.goto("/admin/keys/key/add/")
    page.select_option("#id_agent", label="made-in-the-browser")
    page.fill("#id_name", "browser key")
    page.click("input[name=_save]")
    secret = page.text_content(".messagelist li.secret code.aidgate-secret").strip()
    assert SECRET_RE.match(secret)
    assert "Shown once" in page.text_content(".messagelist li.secret")
    page.click(".messagelist li.secret button.aidgate-copy")
    page.wait_for_selector("button.aidgate-copy[data-copied=true]")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    key = key_verify(secret)
    assert key.agent.name == "made-in-the-browser"

    page.reload()
    assert secret not in page.content()
    assert page.query_selector("li.secret") is None

    # Revoking asks first: the action menu leads to a confirmation page.
    page.check(f"input[name=_selected_action][value='{key.pk}']")
    page.select_option("select[name=action]", "revoke_keys")
    page.click("button[name=index]")
    page.wait_for_url(re.compile(r"/admin/console/keys/confirm/"))
    assert "cannot be undone" in page.text_content("#confirm-consequence")
    assert Key.objects.get(pk=key.pk).state() == CredentialState.ACTIVE
    page.click("#confirm-submit")
    page.wait_for_selector(".messagelist .success")
    assert Key.objects.get(pk=key.pk).state() == CredentialState.REVOKED


def test_the_agent_page_copies_a_signed_identity_that_verifies(page, site):
    console_login(page, site.url, site.admin.username)
    page.goto(admin_url(site.agent))
    assert site.agent.fingerprint in page.text_content("#content")

    page.click("button.aidgate-copy-field[data-copy-from=agent-identity-token]")
    page.wait_for_selector("button.aidgate-copy-field[data-copied=true]")
    token = page.evaluate("navigator.clipboard.readText()")

    assert token == page.input_value("#agent-identity-token")
    # Verified as a provider would: PyJWT and the gateway's published keys, nothing else.
    jwks = jwt.PyJWKSet.from_dict(httpx.get(f"{site.url}/.well-known/jwks.json").json())
    (key,) = [k for k in jwks.keys if k.key_id == jwt.get_unverified_header(token)["kid"]]
    claims = jwt.decode(token, key.key, algorithms=["ES256"], issuer=site.url)
    assert (claims["sub"], claims["tenant"], claims["fingerprint"]) == (
        site.agent.pk, site.tenant.pk, site.agent.fingerprint,
    )  # fmt: skip


def test_the_playground_streams_an_answer_through_the_gateway(page, site):
    console_login(page, site.url, site.admin.username)
    page.goto("/admin/console/playground/")
    page.select_option("#pg-agent", site.agent.pk)
    assert page.input_value("#pg-model") == "smart-default"
    chunks = []
    page.on("response", lambda r: chunks.append(r) if r.url.endswith("/v1/chat/completions") else None)
    page.fill("#pg-prompt", "Hello from the browser")
    page.click("#pg-send")
    page.wait_for_selector(".playground-turn.assistant[data-done=true]")
    assert page.text_content(".playground-turn.assistant .text") == "Mock answer to: Hello from the browser"
    assert chunks
    assert chunks[0].headers["content-type"].startswith("text/event-stream")
    request_id = page.text_content("#pg-request-link")
    conversation_id = page.input_value("#pg-conversation")

    record = eventually(lambda: RequestLog.objects.filter(pk=request_id).first())
    assert record is not None
    assert (record.credential, record.identity_source, record.user) == ("session", "session", site.admin.email)
    assert (record.agent_id, record.app_id, record.stream) == (site.agent.pk, site.app.pk, True)
    assert record.conversation_id == conversation_id

    # A second turn continues the conversation, and the activity pages show both in order.
    page.fill("#pg-prompt", "And again")
    page.click("#pg-send")
    page.wait_for_selector(".playground-turn.assistant:nth-of-type(4)[data-done=true]")
    assert eventually(lambda: RequestLog.objects.filter(conversation_id=conversation_id).count() == 2)
    page.goto(f"/admin/console/conversations/?user={site.admin.email}")
    page.click(f"text={conversation_id}")
    rows = page.query_selector_all("#conversation-records tbody tr")
    assert rows[0].get_attribute("data-request-id") == request_id
    assert len(rows) == 2

    # The record's page: every field, the captured request body, the chain status.
    page.goto(f"/admin/console/logs/{request_id}/")
    assert page.text_content("tr[data-field=credential] code") == "session"
    assert "Hello from the browser" in page.text_content("#request-body")
    assert page.query_selector("[data-chain]") is not None


@pytest.mark.parametrize(
    ("dialect", "path"),
    [("chat", "/v1/chat/completions"), ("messages", "/v1/messages"), ("responses", "/v1/responses")],
)
def test_the_playground_speaks_the_chosen_dialect_streamed_and_whole(page, site, dialect, path):
    refused = []  # chromium reports a CSP violation as a console error "Refused to …"
    page.on("console", lambda message: refused.append(message.text) if "Refused" in message.text else None)
    console_login(page, site.url, site.admin.username)
    page.goto("/admin/console/playground/")
    page.select_option("#pg-dialect", dialect)
    page.select_option("#pg-agent", site.agent.pk)
    sent, answered = [], []
    page.on("request", lambda r: sent.append(r) if r.url.endswith(path) else None)
    page.on("response", lambda r: answered.append(r) if r.url.endswith(path) else None)

    page.fill("#pg-prompt", f"Streamed in {dialect}")
    page.click("#pg-send")
    page.wait_for_selector(".playground-turn.assistant[data-done=true]")
    assert page.text_content(".playground-turn.assistant .text") == f"Mock answer to: Streamed in {dialect}"
    assert page.get_attribute(".playground-turn.assistant", "data-dialect") == dialect
    streamed_id = page.text_content("#pg-request-link")
    assert "prompt +" in page.text_content("#pg-status")

    page.uncheck("#pg-stream")
    page.fill("#pg-prompt", f"Whole in {dialect}")
    page.click("#pg-send")
    page.wait_for_selector(".playground-turn.assistant:nth-of-type(4)[data-done=true]")
    answers = page.locator(".playground-turn.assistant .text").all_text_contents()
    assert answers[1] == f"Mock answer to: Whole in {dialect}"
    whole_id = page.text_content("#pg-request-link")

    # The requests were the dialect's own, the second one carrying the first turn's answer.
    assert len(sent) == 2
    assert answered[0].headers["content-type"].startswith("text/event-stream")
    assert answered[1].headers["content-type"].startswith("application/json")
    body = sent[1].post_data_json
    turns = body["input"] if dialect == "responses" else body["messages"]
    assert [turn["role"] for turn in turns] == ["user", "assistant", "user"]
    assert turns[1]["content"] == f"Mock answer to: Streamed in {dialect}"
    assert ("max_tokens" in body) == (dialect == "messages")
    records = eventually(lambda: len(found := list(RequestLog.objects.filter(pk__in=[streamed_id, whole_id]))) == 2
                         and found)  # fmt: skip
    assert records, "both requests recorded"
    by_id = {record.pk: record for record in records}
    assert (by_id[streamed_id].endpoint, by_id[streamed_id].stream, by_id[streamed_id].status_code) == (
        dialect,
        True,
        200,
    )
    assert (by_id[whole_id].endpoint, by_id[whole_id].stream, by_id[whole_id].status_code) == (dialect, False, 200)
    assert {record.credential for record in records} == {"session"}
    # The page's script ran under the content security policy without a violation.
    assert refused == []


def test_the_dashboard_charts_the_requests_made_in_the_test(page, site):
    with httpx.Client(base_url=site.url, headers={"Authorization": f"Bearer {site.secret}"}, timeout=10) as http:
        for _ in range(3):
            body = {"model": "smart-default", "messages": [{"role": "user", "content": "Hi"}]}
            assert http.post("/v1/chat/completions", json=body).status_code == 200
        refused = http.post("/v1/chat/completions", json={"model": "no-such-model", "messages": []})
        assert refused.status_code >= 400
    assert eventually(lambda: RequestLog.objects.filter(tenant_id=site.tenant.pk).count() == 4)

    console_login(page, site.url, site.admin.username)
    page.goto("/admin/console/")
    requests_chart = page.locator("svg[data-chart=requests]")
    assert requests_chart.get_attribute("data-total") == "4"
    assert requests_chart.bounding_box()["height"] > 50  # drawn, and styled by the console's CSS
    assert page.text_content("[data-figure=requests] .figure") == "4"
    assert page.text_content("[data-figure=errors] .figure") == "1"
    assert page.locator("svg[data-chart=top-models] g[data-label=smart-default]").get_attribute("data-value") == "3"
    assert page.locator("svg[data-chart=refusals]").get_attribute("data-total") == "1"
    assert int(page.locator("svg[data-chart=tokens]").get_attribute("data-total")) > 0
    page.click("a[data-period='7d']")
    page.wait_for_url(re.compile(r"period=7d"))
    assert page.locator("svg[data-chart=requests] g.bucket").count() == 7


def test_tenant_staff_see_nothing_of_another_tenant(page, site):
    foreign = make_request_log(
        site.tenant, site.agent, user="secret-user@browser.example", conversation_id="secret-conversation",
        model_requested="secret-model", app_id=site.app.pk,
    )  # fmt: skip
    outsider = factories.make_tenant("Outsider Org")
    factories.make_agent(outsider, name="outsider-agent")
    factories.make_app(outsider, slug="outsider-app", is_default=True)
    staff = factories.make_console_user(outsider, email="staff@outsider.example", role="admin")
    console_login(page, site.url, staff.username)

    hidden = [site.tenant.name, site.agent.name, site.agent.pk, site.app.name, foreign.id, "secret-user",
              "secret-model", "secret-conversation"]  # fmt: skip
    for path in ("/admin/console/", "/admin/console/?period=30d", "/admin/console/users/", "/admin/console/logs/",
                 "/admin/console/playground/", "/admin/console/reports/"):  # fmt: skip
        response = page.goto(path)
        assert response.status == 200, path
        content = page.content()
        assert not [name for name in hidden if name in content], path
    # Filtering on the other tenant's agent is refused as an unknown choice (echoing only the query).
    page.goto(f"/admin/console/logs/?tenant={site.tenant.pk}&agent={site.agent.pk}")
    assert "Correct the filters above." in page.content()
    assert page.query_selector("#log-records") is None
    for path in (f"/admin/console/logs/{foreign.id}/", f"/admin/console/logs/{foreign.id}/?tenant={site.tenant.pk}",
                 "/admin/console/conversations/?user=secret-user@browser.example",
                 "/admin/console/conversation/?user=secret-user@browser.example&id=secret-conversation"):  # fmt: skip
        assert page.goto(path).status == 404, path

    # The playground lists the outsider's agent only, and the gateway refuses a foreign one.
    page.goto("/admin/console/playground/")
    options = page.eval_on_selector_all("#pg-agent option", "options => options.map(o => o.textContent.trim())")
    assert options == ["outsider-agent"]
    status = page.evaluate(
        """agent => fetch('/v1/chat/completions', {method: 'POST', credentials: 'same-origin',
             headers: {'Content-Type': 'application/json', 'X-Aidgate-Playground': '1', 'X-Agent-Id': agent},
             body: JSON.stringify({model: 'smart-default', messages: [{role: 'user', content: 'hi'}]})})
           .then(r => r.status)""",
        site.agent.pk,
    )
    assert status == 403
