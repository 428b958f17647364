"""A tenant's price reaches every process as any configuration change does: within
``CONFIG_CACHE_SECONDS`` (0.5 s for these gateways, tests/support/servers.py) of its write.

Each cycle uses a model on both processes first (so each has it priced in its snapshot), then
creates, changes or deletes the tenant's price of it through one process's management API and,
once that bound has passed, sends the next request to the other process, then to the first. A
process still pricing from its old snapshot records the old cost.
"""

from __future__ import annotations

import os
import time
from decimal import Decimal

from tests.consistency.support import GatewayPair, unique
from tests.consistency.test_create_then_use import _world

CYCLES = int(os.environ.get("CONSISTENCY_PRICE_CYCLES", "6"))
# The gateways' CONFIG_CACHE_SECONDS, and a margin for the snapshot's reload.
PROPAGATION_SECONDS = 0.5 + 0.25


def _cost(pair: GatewayPair, on: int, model: str, secret: str) -> tuple[Decimal | None, int, int]:
    response = pair.chat(on, model=model, headers={"X-API-Key": secret})
    assert response.status_code == 200, response.text
    log = pair.admin[on].get(f"/v1/logs/{response.headers['x-request-id']}").json()
    cost = None if log["cost_usd"] is None else Decimal(log["cost_usd"])
    return cost, log["prompt_tokens"], log["completion_tokens"]


def _priced(prompt: int, completion: int, input_price: int, output_price: int) -> Decimal:
    return (Decimal(prompt * input_price + completion * output_price) / 1_000_000).quantize(Decimal("0.00000001"))


def test_a_price_written_on_one_process_prices_the_requests_of_the_other(pair):
    world = _world(pair)
    wrong = []
    for n in range(CYCLES):
        via, other = n % 2, 1 - n % 2
        model = unique("mock-priced-")
        for on in (0, 1):  # the mock provider's models are free until the tenant says otherwise
            assert _cost(pair, on, model, world["key"])[0] == 0
        price = pair.create(via, "/v1/prices", {"model_pattern": model, "input_per_million_usd": "300",
                                                "output_per_million_usd": "900"})  # fmt: skip
        time.sleep(PROPAGATION_SECONDS)
        for on in (other, via):
            cost, prompt, completion = _cost(pair, on, model, world["key"])
            if cost != _priced(prompt, completion, 300, 900) or not cost:
                wrong.append(("created", n, on, cost))
        pair.change(via, "PATCH", f"/v1/prices/{price['id']}", {"output_per_million_usd": "1800"})
        time.sleep(PROPAGATION_SECONDS)
        for on in (other, via):
            cost, prompt, completion = _cost(pair, on, model, world["key"])
            if cost != _priced(prompt, completion, 300, 1800):
                wrong.append(("changed", n, on, cost))
        pair.change(via, "DELETE", f"/v1/prices/{price['id']}")
        time.sleep(PROPAGATION_SECONDS)
        for on in (other, via):
            if (cost := _cost(pair, on, model, world["key"])[0]) != 0:
                wrong.append(("deleted", n, on, cost))

    assert wrong == []
