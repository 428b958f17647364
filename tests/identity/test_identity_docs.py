"""The snippets of docs/identity.md → "Verifying a request's agent", run as written (only the
gateway's address replaced) against a live gateway: Python with PyJWT, Node with ``jose`` from
the npm registry (installed once into ``tests/.node/``, which git ignores)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import jwt
import pytest

from tests.support.identity_outsider import identity_header

REPO = Path(__file__).resolve().parents[2]
NODE_DIR = REPO / "tests" / ".node"
SECTION = "### Verifying a request's agent"
PLACEHOLDER = "https://gateway.example.com"


def snippet(language: str) -> str:
    text = (REPO / "docs" / "identity.md").read_text()
    section = text[text.index(SECTION) :]
    return re.search(rf"```{language}\n(.*?)```", section, re.DOTALL).group(1)


@pytest.fixture
def sent(world):
    """The headers of a request as the provider received them, and that provider's id."""
    world.sdk().chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
    return world.upstream.last().headers, world.provider.id


def test_the_python_snippet_verifies_a_requests_agent(world, sent):
    headers, provider_id = sent
    namespace: dict = {}
    exec(snippet("python").replace(PLACEHOLDER, world.gateway.url), namespace)  # noqa: S102

    claims = namespace["agent_of"](headers, provider_id)

    assert (claims["sub"], claims["aud"], claims["exp"] - claims["iat"]) == (world.agent.id, provider_id, 300)
    with pytest.raises(jwt.InvalidAudienceError):
        namespace["agent_of"](headers, "prv_someone_else")


def node_with_jose() -> Path:
    """``tests/.node`` with ``jose`` installed from the npm registry (once; kept between runs)."""
    if not (NODE_DIR / "node_modules" / "jose" / "package.json").exists():
        NODE_DIR.mkdir(parents=True, exist_ok=True)
        (NODE_DIR / "package.json").write_text(json.dumps({"private": True, "type": "module"}))
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "jose@6"],
            cwd=NODE_DIR, check=True, capture_output=True, timeout=300,
        )  # fmt: skip
    return NODE_DIR


RUNNER = """
import { agentOf } from "./agent_of.mjs";
const [token, providerId] = process.argv.slice(2);
try {
  console.log(JSON.stringify(await agentOf({ "x-agent-identity": token }, providerId)));
} catch (error) {
  console.log(JSON.stringify({ error: error.code }));
}
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_the_node_snippet_verifies_a_requests_agent_with_jose(world, sent):
    headers, provider_id = sent
    token = identity_header(headers)
    directory = node_with_jose()
    (directory / "agent_of.mjs").write_text(snippet("js").replace(PLACEHOLDER, world.gateway.url))
    (directory / "run.mjs").write_text(RUNNER)

    def verify(token: str, audience: str) -> dict:
        done = subprocess.run(
            ["node", "run.mjs", token, audience],
            cwd=directory, check=True, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        return json.loads(done.stdout)

    claims = verify(token, provider_id)
    assert (claims["sub"], claims["aud"], claims["jti"]) == (world.agent.id, provider_id, headers["X-Request-ID"])
    assert claims["exp"] == claims["iat"] + 300
    assert verify(token, "prv_someone_else") == {"error": "ERR_JWT_CLAIM_VALIDATION_FAILED"}
    head, payload, signature = token.split(".")
    assert verify(f"{head}.{payload[:-4]}AAAA.{signature}", provider_id)["error"] is not None
