"""The lean Redis connection of the per-request counters (``proxy/redis_pipe.py``), against
a real Redis of the test's own: answers in order under concurrency, scripts reloaded after a
flush, authentication and database selection, and quick, clean failure when Redis is gone or
stalls, with recovery once it is back."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis

from proxy.redis_pipe import LuaScript, RedisPipe, RedisPipeError
from tests.reliability.support import PrivateRedis

ECHO = LuaScript("return ARGV[1]")
STORE = LuaScript("redis.call('SET', KEYS[1], ARGV[1]) return 1")


@pytest.fixture
def server():
    instance = PrivateRedis().start()
    yield instance
    instance.resume()
    instance.stop()


def test_it_gives_each_of_many_concurrent_commands_its_own_answer(server):
    async def scenario() -> list[bytes]:
        pipe = RedisPipe(server.url)
        try:
            return await asyncio.gather(*(pipe.evalsha(ECHO, [], [f"n{i}"]) for i in range(300)))
        finally:
            await pipe.close()

    assert asyncio.run(scenario()) == [f"n{i}".encode() for i in range(300)]


def test_it_loads_its_script_again_after_redis_forgot_it(server):
    async def scenario() -> tuple[bytes, bytes]:
        pipe = RedisPipe(server.url)
        first = await pipe.evalsha(ECHO, [], ["before"])
        redis.Redis.from_url(server.url).script_flush()
        second = await pipe.evalsha(ECHO, [], ["after"])
        await pipe.close()
        return first, second

    assert asyncio.run(scenario()) == (b"before", b"after")


def test_it_authenticates_and_selects_the_database_of_its_url():
    server = PrivateRedis("--requirepass", "s3cret").start()
    try:

        async def scenario() -> None:
            pipe = RedisPipe(f"redis://:s3cret@127.0.0.1:{server.port}/3")
            await pipe.evalsha(STORE, ["k"], ["v"])
            await pipe.close()

        asyncio.run(scenario())
        assert redis.Redis(port=server.port, password="s3cret", db=3).get("k") == b"v"
        assert redis.Redis(port=server.port, password="s3cret", db=0).get("k") is None

        async def wrong_password() -> None:
            await RedisPipe(f"redis://:wrong@127.0.0.1:{server.port}/0").evalsha(ECHO, [], ["x"])

        with pytest.raises(RedisPipeError):
            asyncio.run(wrong_password())
    finally:
        server.stop()


def test_it_fails_fast_while_redis_is_down_and_recovers_when_it_is_back(server):
    async def scenario() -> tuple[float, bytes]:
        pipe = RedisPipe(server.url, timeout=0.5, connect_timeout=0.5)
        await pipe.evalsha(ECHO, [], ["up"])
        server.stop()
        started = time.monotonic()
        with pytest.raises(RedisPipeError):
            await pipe.evalsha(ECHO, [], ["down"])
        with pytest.raises(RedisPipeError):
            await pipe.evalsha(ECHO, [], ["still down"])
        failed_within = time.monotonic() - started
        server.start()
        answer = await pipe.evalsha(ECHO, [], ["back"])
        await pipe.close()
        return failed_within, answer

    failed_within, answer = asyncio.run(scenario())
    assert failed_within < 1.5
    assert answer == b"back"


def test_it_gives_up_on_a_stalled_redis_after_its_timeout_and_reconnects(server):
    async def scenario() -> tuple[float, bytes]:
        pipe = RedisPipe(server.url, timeout=0.4, connect_timeout=0.4)
        await pipe.evalsha(ECHO, [], ["up"])
        server.pause()
        started = time.monotonic()
        results = await asyncio.gather(*(pipe.evalsha(ECHO, [], [str(i)]) for i in range(5)), return_exceptions=True)
        waited = time.monotonic() - started
        assert all(isinstance(r, RedisPipeError) for r in results)
        server.resume()
        answer = await pipe.evalsha(ECHO, [], ["resumed"])
        await pipe.close()
        return waited, answer

    waited, answer = asyncio.run(scenario())
    assert 0.3 < waited < 1.5
    assert answer == b"resumed"
