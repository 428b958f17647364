"""What a proxied request costs, end to end through the live gateway and a fake upstream: gpt-5
at its list price, cached prompt tokens (OpenAI's and Anthropic's) at the cached rate, the
tenant's own price over the list price, and a model without a price recorded, summed and
reported as unpriced, never as $0.00."""

from __future__ import annotations

import time
from decimal import Decimal

import anthropic.types as at
import pytest
from genai_prices import Usage, calc_price

from forensics.models import RequestLog
from tests import factories
from tests.providers.conftest import provider_for
from tests.providers.test_anthropic import message, text_block
from tests.support.live_fixtures import chat

UNLISTED = "gpt-nobody-lists-this"


def answer(model: str, usage: dict) -> dict:
    return {
        "json": {
            "id": "c1", "object": "chat.completion", "created": 1, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
            "usage": usage,
        }
    }  # fmt: skip


def record_of(request_id: str) -> RequestLog:
    deadline = time.monotonic() + 5
    while not (found := RequestLog.objects.filter(id=request_id).first()):
        assert time.monotonic() < deadline, "no record"
        time.sleep(0.05)
    return found


def send(world, model: str, usage: dict, **headers: str) -> RequestLog:
    world.upstream.behaviour["/v1/chat/completions"] = lambda seen: answer(model, usage)
    with world.http(Authorization=f"Bearer {world.secret}", **headers) as http:
        response = http.post("/v1/chat/completions", json=chat(model))
    assert response.status_code == 200, response.text
    return record_of(response.headers["x-request-id"])


def eight_places(value: Decimal | float) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.00000001"))


@pytest.fixture
def admin(world):
    secret = factories.make_org_key(world.tenant)[1]
    with world.http(Authorization=f"Bearer {secret}") as http:
        yield http


def test_it_prices_gpt_5_with_cached_input_at_the_cached_rate(world):
    usage = {"prompt_tokens": 10_000, "completion_tokens": 2_000, "total_tokens": 12_000,
             "prompt_tokens_details": {"cached_tokens": 4_000}}  # fmt: skip

    record = send(world, "gpt-5", usage)

    # 6,000 at 1.25, 4,000 at 0.125, 2,000 at 10 per million: what genai-prices says, too.
    oracle = calc_price(Usage(input_tokens=10_000, cache_read_tokens=4_000, output_tokens=2_000), "gpt-5",
                        provider_id="openai").total_price  # fmt: skip
    assert record.cost_usd == eight_places(oracle) == Decimal("0.02800000")


def test_it_prices_anthropic_cache_reads_at_the_cached_rate(world):
    provider_for(world, "anthropic")
    usage = at.Usage(
        input_tokens=1_000, cache_read_input_tokens=9_000, cache_creation_input_tokens=0, output_tokens=100
    )
    world.upstream.behaviour["/v1/messages"] = lambda seen: {"json": message([text_block("ok")], usage=usage)}
    with world.http(Authorization=f"Bearer {world.secret}") as http:
        response = http.post("/v1/chat/completions", json=chat("claude-sonnet-4-5"))
    assert response.status_code == 200, response.text

    record = record_of(response.headers["x-request-id"])
    assert (record.prompt_tokens, record.completion_tokens) == (10_000, 100)
    # 1,000 at 3, 9,000 cache reads at 0.30, 100 at 15 per million.
    assert record.cost_usd == Decimal("0.00720000")


def test_the_tenants_own_price_wins_over_the_list_price(world, admin):
    created = admin.post("/v1/prices", json={
        "model_pattern": "gpt-5*", "input_per_million_usd": "2", "cached_input_per_million_usd": "1",
        "output_per_million_usd": "4",
    })  # fmt: skip
    assert created.status_code == 201, created.text
    usage = {"prompt_tokens": 1_000_000, "completion_tokens": 1_000_000, "total_tokens": 2_000_000,
             "prompt_tokens_details": {"cached_tokens": 500_000}}  # fmt: skip

    record = send(world, "gpt-5", usage)

    assert record.cost_usd == Decimal("0.5") * 2 + Decimal("0.5") * 1 + 4


def test_a_model_without_a_price_is_unpriced_in_its_record_usage_and_report(world, admin):
    usage = {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150}
    priced = send(world, "gpt-4o-mini", usage)
    unpriced = send(world, UNLISTED, usage)

    assert priced.cost_usd > 0
    assert unpriced.cost_usd is None
    log = admin.get(f"/v1/logs/{unpriced.id}").json()
    assert (log["cost_usd"], log["unpriced"], log["prompt_tokens"]) == (None, True, 100)
    assert admin.get(f"/v1/logs/{priced.id}").json()["unpriced"] is False

    body = admin.get("/v1/usage", params={"group_by": "model"}).json()
    groups = {group["key"]["model"]: group for group in body["groups"]}
    assert (groups[UNLISTED]["cost_usd"], groups[UNLISTED]["unpriced_requests"]) == (None, 1)
    assert groups["gpt-4o-mini"]["unpriced_requests"] == 0
    # The total is what is known, a lower bound that says so: never the unpriced one as $0.
    assert body["totals"]["cost_usd"] == float(priced.cost_usd)
    assert body["totals"]["unpriced_requests"] == 1

    requested = admin.post("/v1/reports", json={"framework": "soc2"}).json()
    deadline = time.monotonic() + 10
    while (report := admin.get(f"/v1/reports/{requested['id']}").json())["status"] == "pending":
        assert time.monotonic() < deadline, "the report was not built"
        time.sleep(0.1)
    transparency = next(f for f in report["findings"] if f["evidence"].get("unpriced_models") is not None)
    assert transparency["evidence"]["unpriced_requests"] == 1
    assert transparency["evidence"]["unpriced_models"] == {UNLISTED: 1}


def test_a_tenant_price_prices_a_model_no_one_lists(world, admin):
    admin.post("/v1/prices", json={"model_pattern": UNLISTED, "input_per_million_usd": "10",
                                   "output_per_million_usd": "20"})  # fmt: skip

    record = send(world, UNLISTED, {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150})

    assert record.cost_usd == Decimal("0.00200000")


def test_a_refused_request_costs_nothing_rather_than_unpriced(world):
    with world.http(Authorization=f"Bearer {world.secret}") as http:
        response = http.post("/v1/chat/completions", json={"model": UNLISTED})
    assert response.status_code == 400

    assert record_of(response.headers["x-request-id"]).cost_usd == 0


def test_it_prices_cache_reads_of_a_native_messages_request(world):
    provider_for(world, "anthropic")
    usage = at.Usage(
        input_tokens=1_000, cache_read_input_tokens=9_000, cache_creation_input_tokens=0, output_tokens=100
    )
    world.upstream.behaviour["/v1/messages"] = lambda seen: {"json": message([text_block("ok")], usage=usage)}
    with world.http(**{"x-api-key": world.secret, "anthropic-version": "2023-06-01"}) as http:
        response = http.post("/v1/messages", json={
            "model": "claude-sonnet-4-5", "max_tokens": 50, "messages": [{"role": "user", "content": "Hi"}],
        })  # fmt: skip
    assert response.status_code == 200, response.text

    record = record_of(response.headers["x-request-id"])
    assert (record.endpoint, record.prompt_tokens) == ("messages", 10_000)
    assert record.cost_usd == Decimal("0.00720000")
