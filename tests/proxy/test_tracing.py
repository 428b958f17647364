"""OpenTelemetry traces (GenAI semantic conventions) of a real gateway process, received by a
real OTLP/HTTP server standing in for a collector; and no OpenTelemetry at all when off."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests import factories
from tests.support.servers import GatewayProcess, redis_url_for_tests

REPO = Path(__file__).resolve().parents[2]


class OtlpCollector:
    """Accepts ``POST /v1/traces`` (protobuf, as OTLP/HTTP sends it) and keeps every span."""

    def __init__(self) -> None:
        self.spans: list = []
        self.paths: list[str] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                collector.paths.append(self.path)
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                for resource_spans in request.resource_spans:
                    service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                    for scope_spans in resource_spans.scope_spans:
                        for span in scope_spans.spans:
                            collector.spans.append((service, span))
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def attributes_of(span) -> dict:
    values = {}
    for attribute in span.attributes:
        value = attribute.value
        values[attribute.key] = getattr(value, value.WhichOneof("value"))
    return values


@pytest.fixture
def collector():
    server = OtlpCollector()
    yield server
    server.stop()


@pytest.fixture
def traced_gateway(transactional_db, settings, collector):
    url = redis_url_for_tests()
    if url is None:
        pytest.fail("these tests need Redis: set REDIS_URL or run one on 127.0.0.1:6379")
    settings.REDIS_URL = url
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    process = GatewayProcess(redis_url=url, extra_env=env).start()
    yield process
    process.stop()


def span_of(collector: OtlpCollector, request_id: str):
    deadline = time.monotonic() + 15
    while True:
        found = [(s, sp) for s, sp in collector.spans if attributes_of(sp).get("aidgate.request_id") == request_id]
        if found:
            return found[0]
        assert time.monotonic() < deadline, "no span reached the collector"
        time.sleep(0.1)


def test_it_sends_a_genai_span_for_each_proxied_request(traced_gateway, collector):
    tenant = factories.make_tenant()
    app = factories.make_app(tenant, is_default=True)
    provider = factories.make_provider(tenant, kind="mock", models=["mock-*"])
    agent = factories.make_agent(tenant)
    _, secret = factories.make_key(agent)
    chat = {"model": "mock-1", "messages": [{"role": "user", "content": "a prompt nobody may read"}]}
    response = httpx.post(traced_gateway.url + "/v1/chat/completions", json=chat, headers={"X-API-Key": secret})
    assert response.status_code == 200
    refused = httpx.post(
        traced_gateway.url + "/v1/chat/completions", json={**chat, "model": "nope-9"}, headers={"X-API-Key": secret}
    )
    assert refused.status_code == 404

    service, span = span_of(collector, response.headers["x-request-id"])
    attributes = attributes_of(span)
    usage = response.json()["usage"]
    assert collector.paths[0] == "/v1/traces"
    assert service["service.name"] == "aidgate"
    assert span.name == "chat mock-1"
    assert span.kind == span.SPAN_KIND_CLIENT
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.system"] == attributes["gen_ai.provider.name"] == "mock"
    assert attributes["gen_ai.request.model"] == "mock-1"
    assert attributes["gen_ai.response.model"] == "mock-1"
    assert attributes["gen_ai.usage.input_tokens"] == usage["prompt_tokens"]
    assert attributes["gen_ai.usage.output_tokens"] == usage["completion_tokens"]
    assert (attributes["aidgate.tenant_id"], attributes["aidgate.app_id"], attributes["aidgate.agent_id"]) == (
        tenant.id, app.id, agent.id,
    )  # fmt: skip
    assert attributes["aidgate.provider_id"] == provider.id
    assert span.end_time_unix_nano > span.start_time_unix_nano
    assert span.status.code == span.status.STATUS_CODE_UNSET
    _, failed = span_of(collector, refused.headers["x-request-id"])
    assert failed.status.code == failed.status.STATUS_CODE_ERROR
    assert attributes_of(failed)["error.type"] == "model_not_found"
    assert attributes_of(failed)["aidgate.error_reason"] == "model_not_found"
    assert attributes_of(failed)["http.response.status_code"] == 404
    exported = str(collector.spans)
    assert secret not in exported
    assert "a prompt nobody may read" not in exported


def test_it_needs_no_opentelemetry_without_an_endpoint():
    """As where the extra is not installed: every import of the packages fails, and the
    gateway starts and stops all the same. (redis-py tries the SDK by itself when it is
    installed, and takes the ImportError as "not installed".)"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(DEBUG="true", DJANGO_SETTINGS_MODULE="config.settings.local")
    probe = (
        "import asyncio, sys\n"
        "class NoOpenTelemetry:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'opentelemetry':\n"
        "            raise ImportError('not installed')\n"
        "sys.meta_path.insert(0, NoOpenTelemetry())\n"
        "import config.asgi\n"
        "from proxy.runtime import GatewayRuntime\n"
        "async def main():\n"
        "    runtime = GatewayRuntime()\n"
        "    assert runtime.tracer is None\n"
        "    await runtime.close()\n"
        "asyncio.run(main())\n"
        "print('started', sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "started []"
