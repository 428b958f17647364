"""The ``mock`` kind: answers in-process and deterministically, for demos, tests and benchmarks.

The answer echoes the last user message; streaming splits it into word chunks. A latency
can be simulated with the provider's extra header ``X-Mock-Latency-Ms``.
"""

from __future__ import annotations

import asyncio
import hashlib
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

from proxy.adapters.base import LocalResult, Usage, estimate_tokens
from proxy.adapters.openai_like import OpenAIAdapter
from proxy.adapters.sse import DONE, sse_encode
from proxy.config_snapshot import ProviderEntry

EMBEDDING_DIMENSIONS = 8


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def mock_answer(body: dict[str, Any]) -> str:
    last_user = next(
        (_text_of(m.get("content")) for m in reversed(body.get("messages") or []) if m.get("role") == "user"), ""
    )
    return f"Mock answer to: {last_user[:200]}" if last_user else "Mock answer."


def mock_embedding(text: str) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [round(v / 2**32, 6) for v in struct.unpack(f">{EMBEDDING_DIMENSIONS}I", digest[: 4 * EMBEDDING_DIMENSIONS])]


class MockAdapter(OpenAIAdapter):
    kind = "mock"
    local = True

    @staticmethod
    def _latency(provider: ProviderEntry) -> float:
        for name, value in provider.extra_headers.items():
            if name.lower() == "x-mock-latency-ms":
                try:
                    return max(0.0, float(value)) / 1000.0
                except ValueError:
                    return 0.0
        return 0.0

    async def chat_local(
        self, provider: ProviderEntry, model: str, body: dict[str, Any], prompt_chars: int
    ) -> LocalResult:
        latency = self._latency(provider)
        answer = mock_answer(body)
        usage = Usage(estimate_tokens(prompt_chars), estimate_tokens(len(answer)), reported=True)
        created = int(time.time())
        completion_id = "chatcmpl-mock" + hashlib.sha256(answer.encode()).hexdigest()[:12]
        if not body.get("stream"):
            if latency:
                await asyncio.sleep(latency)
            payload = {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
                "usage": {
                    "prompt_tokens": usage.prompt_tokens,
                    "completion_tokens": usage.completion_tokens,
                    "total_tokens": usage.prompt_tokens + usage.completion_tokens,
                },
            }
            return LocalResult(200, payload=payload, usage=usage)

        async def chunks() -> AsyncIterator[bytes]:
            base = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model}
            words = answer.split(" ")
            yield sse_encode({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
            for i, word in enumerate(words):
                if latency:
                    await asyncio.sleep(latency / max(1, len(words)))
                text = word if i == 0 else " " + word
                yield sse_encode({**base, "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]})
            yield sse_encode({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            yield sse_encode(
                {
                    **base,
                    "choices": [],
                    "usage": {
                        "prompt_tokens": usage.prompt_tokens,
                        "completion_tokens": usage.completion_tokens,
                        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
                    },
                }
            )
            yield DONE

        return LocalResult(200, chunks=chunks(), usage=usage)

    async def embeddings_local(self, provider: ProviderEntry, model: str, body: dict[str, Any]) -> LocalResult:
        latency = self._latency(provider)
        if latency:
            await asyncio.sleep(latency)
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        texts = [i if isinstance(i, str) else " ".join(map(str, i)) for i in inputs]
        prompt = sum(estimate_tokens(len(t)) for t in texts)
        payload = {
            "object": "list",
            "data": [{"object": "embedding", "index": i, "embedding": mock_embedding(t)} for i, t in enumerate(texts)],
            "model": model,
            "usage": {"prompt_tokens": prompt, "total_tokens": prompt},
        }
        return LocalResult(200, payload=payload, usage=Usage(prompt, 0, reported=True))
