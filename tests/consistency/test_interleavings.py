"""Random interleavings of create, change, suspend, resume, revoke and delete, with calls on
both processes, checked against a model of what each answer must be (SPEC 1 and 2).

The model keeps, for every key, the answers its calls must get over time. A change may take
up to one second to reach a process, so an answer that was right less than a second before
the call is accepted too; a creation has no earlier answer, so a new object must work on
its very first call, on either process.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, rule, run_state_machine_as_test

from tests.consistency.support import GatewayPair, Traffic, answer_of, unique

CHANGE_LAG = 1.0  # SPEC 1: a change reaches every process within one second
OK = (200, None)
process = st.integers(min_value=0, max_value=1)


@dataclass
class AgentModel:
    id: str
    status: str = "active"  # active, suspended, deleted
    restricted: bool = False


@dataclass
class AppModel:
    id: str
    slug: str
    deleted: bool = False


@dataclass
class KeyModel:
    id: str
    secret: str
    agent: AgentModel
    app: AppModel | None
    revoked: bool = False
    # (from when, answer): the answers this key's calls have had to get, oldest first.
    history: list[tuple[float, tuple[int, str | None]]] = field(default_factory=list)

    def expected(self) -> tuple[int, str | None]:
        if self.app is not None and self.app.deleted:
            return 404, "unknown_app"
        if self.revoked or self.agent.status == "deleted":
            return 401, "key_revoked"
        if self.agent.status == "suspended":
            return 403, "agent_suspended"
        if self.agent.restricted:
            return 403, "model_not_allowed"
        return OK

    def note(self, since: float) -> None:
        answer = self.expected()
        if not self.history or self.history[-1][1] != answer:
            self.history.append((since, answer))

    def allowed(self, sent_at: float) -> set[tuple[int, str | None]]:
        """The current answer, and any answer that was right less than CHANGE_LAG before."""
        allowed = {self.history[-1][1]}
        for (_, answer), (ended, _) in zip(self.history, self.history[1:], strict=False):
            if ended > sent_at - CHANGE_LAG:
                allowed.add(answer)
        return allowed


class ConfigurationMachine(RuleBasedStateMachine):
    agents = Bundle("agents")
    apps = Bundle("apps")
    keys = Bundle("keys")

    def __init__(self, pair: GatewayPair) -> None:
        super().__init__()
        self.pair = pair
        self.all_keys: list[KeyModel] = []

    # Every write answers before its time is taken: from then on its effect is due.
    def _changed(self, *affected: KeyModel) -> None:
        now = time.monotonic()
        for key in affected:
            key.note(now)

    def _keys_of(self, agent: AgentModel | None = None, app: AppModel | None = None) -> list[KeyModel]:
        return [k for k in self.all_keys if (agent is not None and k.agent is agent) or (app and k.app is app)]

    @rule(target=agents, via=process)
    def create_agent(self, via: int) -> AgentModel:
        return AgentModel(self.pair.create(via, "/v1/agents", {"name": unique("agent-")})["id"])

    @rule(target=apps, via=process)
    def create_app(self, via: int) -> AppModel:
        slug = unique("iapp-")
        return AppModel(self.pair.create(via, "/v1/apps", {"name": slug, "slug": slug})["id"], slug)

    @rule(target=keys, agent=agents, via=process, first_on=process)
    def create_key(self, agent: AgentModel, via: int, first_on: int) -> KeyModel:
        return self._key(agent, None, via, first_on)

    @rule(target=keys, agent=agents, app=apps, via=process, first_on=process)
    def create_app_key(self, agent: AgentModel, app: AppModel, via: int, first_on: int) -> KeyModel:
        return self._key(agent, app, via, first_on)

    def _key(self, agent: AgentModel, app: AppModel | None, via: int, first_on: int) -> KeyModel | None:
        if agent.status == "deleted" or (app is not None and app.deleted):
            return None  # the API refuses these; nothing to model
        body = {"name": "k", **({"app_id": app.id} if app else {})}
        created = self.pair.create(via, f"/v1/agents/{agent.id}/keys", body)
        key = KeyModel(created["id"], created["key"], agent, app)
        key.note(time.monotonic())
        self.all_keys.append(key)
        self._call(key, first_on)  # its first use, at once, on either process
        return key

    @rule(agent=agents, via=process)
    def suspend(self, agent: AgentModel, via: int) -> None:
        self._agent_status(agent, "suspended", via)

    @rule(agent=agents, via=process)
    def resume(self, agent: AgentModel, via: int) -> None:
        self._agent_status(agent, "active", via)

    def _agent_status(self, agent: AgentModel, status: str, via: int) -> None:
        if agent.status == "deleted":
            return
        self.pair.change(via, "PATCH", f"/v1/agents/{agent.id}", {"status": status})
        agent.status = status
        self._changed(*self._keys_of(agent=agent))

    @rule(agent=agents, via=process, restricted=st.booleans())
    def restrict(self, agent: AgentModel, via: int, restricted: bool) -> None:
        if agent.status == "deleted":
            return
        allowed = ["other-*"] if restricted else None
        self.pair.change(via, "PATCH", f"/v1/agents/{agent.id}", {"allowed_models": allowed})
        agent.restricted = restricted
        self._changed(*self._keys_of(agent=agent))

    @rule(agent=agents, via=process)
    def delete_agent(self, agent: AgentModel, via: int) -> None:
        if agent.status == "deleted":
            return
        self.pair.change(via, "DELETE", f"/v1/agents/{agent.id}")
        agent.status = "deleted"
        self._changed(*self._keys_of(agent=agent))

    @rule(key=keys, via=process)
    def revoke(self, key: KeyModel | None, via: int) -> None:
        if key is None or key.revoked or key.agent.status == "deleted" or (key.app and key.app.deleted):
            return
        self.pair.change(via, "DELETE", f"/v1/agents/{key.agent.id}/keys/{key.id}")
        key.revoked = True
        self._changed(key)

    @rule(app=apps, via=process)
    def delete_app(self, app: AppModel, via: int) -> None:
        if app.deleted:
            return
        self.pair.change(via, "DELETE", f"/v1/apps/{app.id}")
        app.deleted = True
        self._changed(*self._keys_of(app=app))

    @rule(key=keys, on=process)
    def call(self, key: KeyModel | None, on: int) -> None:
        if key is not None:
            self._call(key, on)

    def _call(self, key: KeyModel, on: int) -> None:
        path = f"/apps/{key.app.slug}/v1/chat/completions" if key.app else "/v1/chat/completions"
        sent_at = time.monotonic()
        answer = answer_of(self.pair.chat(on, path, headers={"X-API-Key": key.secret}))
        allowed = key.allowed(sent_at)
        assert answer in allowed, f"process {on} answered {answer} for key {key.id}; allowed {allowed}"


def test_it_answers_every_interleaving_as_the_model_says(pair):
    pair.create(0, "/v1/apps", {"name": "default", "slug": unique("idflt-"), "is_default": True})
    pair.create(0, "/v1/providers", {"name": "mock", "kind": "mock", "models": ["mock-*"]})
    warm_agent = pair.create(0, "/v1/agents", {"name": "warm"})
    warm_key = pair.create(0, f"/v1/agents/{warm_agent['id']}/keys", {"name": "warm"})
    examples = int(os.environ.get("CONSISTENCY_EXAMPLES", "12"))
    with Traffic(pair, warm_key["key"]) as traffic:
        run_state_machine_as_test(
            lambda: ConfigurationMachine(pair),
            settings=settings(
                max_examples=examples,
                stateful_step_count=30,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            ),
        )
    assert traffic.answers.wrong() == {}
    assert sum(traffic.answers.seen.values()) > 0
