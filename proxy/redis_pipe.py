"""A lean, pipelined Redis connection for the proxy's per-request commands (the limit store's
two Lua scripts): one connection per process, every command of a loop tick written at once.

Why not redis-py here: a redis-py asyncio ``EVALSHA`` pays for a connection pool, a retry
wrapper, event dispatch and one write per command, and on the benchmark that was a large share
of the worker's event-loop time; this connection costs a fraction of it (figures:
docs/performance.md → Decisions). Encoding and parsing stay with a library (``hiredis``: its
``pack_command`` and ``Reader``); what is here is only the asyncio transport around them.
redis-py remains the client for everything off the request path.

Failure is total and quick: a connection that breaks or leaves a reply unanswered past
``timeout`` is closed, every command waiting on it fails with :class:`RedisPipeError`, and
the next command opens a new connection. Redis answers in order on one connection, so a
FIFO of futures is the whole bookkeeping.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import time
from collections import deque
from typing import Any

import hiredis
from redis.asyncio.connection import SSLConnection, parse_url


class RedisPipeError(Exception):
    """Redis could not be reached, broke the connection, answered too late, or refused."""


class LuaScript:
    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()


class _Protocol(asyncio.Protocol):
    def __init__(self, pipe: RedisPipe) -> None:
        self._pipe = pipe
        self._reader = hiredis.Reader()
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[tuple[asyncio.Future, float]] = deque()
        self._out: list[bytes] = []
        self._in_flight = 0
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, packed: bytes, future: asyncio.Future, deadline: float) -> None:
        """Written at the end of this loop tick when nothing is in flight; otherwise held until
        the replies in flight are all in, then written together (automatic pipelining: under
        load one write carries many requests' commands, at one connection nothing waits)."""
        self.waiting.append((future, deadline))
        if not self._out and self._in_flight == 0:
            asyncio.get_running_loop().call_soon(self._flush)
        self._out.append(packed)

    def _flush(self) -> None:
        out, self._out = self._out, []
        if out and not self.closed and self.transport is not None:
            self._in_flight += len(out)
            self.transport.write(b"".join(out))

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        try:
            while (reply := self._reader.gets()) is not False:
                self._in_flight -= 1
                future, _ = self.waiting.popleft()
                if future.done():
                    continue
                if isinstance(reply, hiredis.ReplyError):
                    future.set_exception(RedisPipeError(str(reply)))
                else:
                    future.set_result(reply)
        except (hiredis.ProtocolError, IndexError):
            self.abort("unreadable reply from Redis")
            return
        if self._in_flight == 0 and self._out:
            self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.abort("connection to Redis lost")

    def abort(self, why: str) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()
        while self.waiting:
            future, _ = self.waiting.popleft()
            if not future.done():
                future.set_exception(RedisPipeError(why))
        self._pipe._connection_gone(self)


class RedisPipe:
    def __init__(self, url: str, *, timeout: float = 1.0, connect_timeout: float = 1.0) -> None:
        options = parse_url(url)
        self._host = options.get("host", "127.0.0.1")
        self._port = int(options.get("port", 6379))
        self._path = options.get("path")
        self._ssl = ssl.create_default_context() if options.get("connection_class") is SSLConnection else None
        self._handshake: list[tuple[Any, ...]] = []
        if options.get("password"):
            auth = ("AUTH", options["username"], options["password"]) if options.get("username") else None
            self._handshake.append(auth or ("AUTH", options["password"]))
        if int(options.get("db", 0)):
            self._handshake.append(("SELECT", int(options["db"])))
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Future | None = None
        self._watchdog: asyncio.TimerHandle | None = None

    async def evalsha(self, script: LuaScript, keys: list[str], args: list[Any]) -> Any:
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        try:
            return await self._call(command)
        except RedisPipeError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
        # Redis restarted or was flushed since the script was loaded: load it, once, and retry.
        await self._call(("SCRIPT", "LOAD", script.source))
        return await self._call(command)

    @property
    def host(self) -> str:
        return self._host

    async def command(self, *args: Any) -> Any:
        """Any one command (off the request path: a cluster's slot map, tests)."""
        return await self._call(args)

    async def call_after_asking(self, command: tuple[Any, ...]) -> Any:
        """``command`` right after ``ASKING`` on the same connection: how a Redis Cluster node
        that is importing a slot accepts one command for it (proxy/redis_cluster_pipe.py)."""
        protocol = self._protocol
        if protocol is None or protocol.closed:
            protocol = await self._connect()
        loop = asyncio.get_running_loop()
        asking: asyncio.Future[Any] = loop.create_future()
        future: asyncio.Future[Any] = loop.create_future()
        deadline = time.monotonic() + self._timeout
        # No await between the two sends: nothing else can be written between them.
        protocol.send(hiredis.pack_command(("ASKING",)), asking, deadline)
        protocol.send(hiredis.pack_command(command), future, deadline)
        self._watch()
        # Both replies are in before either is read. Not gather: it answers a list where its
        # stubs say tuple, and compiled code (core/compiled.py) checks the declared type.
        await asyncio.wait((asking, future))
        for waiter in (asking, future):
            failure = waiter.exception()
            if failure is not None:
                raise failure
        return future.result()

    async def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        if self._protocol is not None:
            self._protocol.abort("closed")

    async def _call(self, command: tuple[Any, ...]) -> Any:
        protocol = self._protocol
        if protocol is None or protocol.closed:
            protocol = await self._connect()
        future = asyncio.get_running_loop().create_future()
        protocol.send(hiredis.pack_command(command), future, time.monotonic() + self._timeout)
        self._watch()
        return await future

    async def _connect(self) -> _Protocol:
        # Concurrent callers share one connection attempt.
        if self._connecting is not None:
            return await asyncio.shield(self._connecting)
        loop = asyncio.get_running_loop()
        self._connecting = loop.create_future()
        try:
            protocol = await asyncio.wait_for(self._open(), timeout=self._connect_timeout)
        except (OSError, TimeoutError, RedisPipeError) as exc:
            error = RedisPipeError(f"cannot connect to Redis: {type(exc).__name__}")
            self._connecting.set_exception(error)
            self._connecting.exception()  # retrieved: no "never retrieved" warning when nobody shares it
            self._connecting = None
            raise error from None
        self._protocol = protocol
        self._connecting.set_result(protocol)
        self._connecting = None
        return protocol

    async def _open(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        if self._path:
            _, protocol = await loop.create_unix_connection(lambda: _Protocol(self), self._path)
        else:
            _, protocol = await loop.create_connection(lambda: _Protocol(self), self._host, self._port, ssl=self._ssl)
        try:
            for command in self._handshake:
                future = loop.create_future()
                protocol.send(hiredis.pack_command(command), future, time.monotonic() + self._connect_timeout)
                await future
        except RedisPipeError:
            protocol.abort("handshake refused")
            raise
        return protocol

    def _connection_gone(self, protocol: _Protocol) -> None:
        if self._protocol is protocol:
            self._protocol = None

    def _watch(self) -> None:
        if self._watchdog is None:
            self._watchdog = asyncio.get_running_loop().call_later(self._timeout / 4, self._check)

    def _check(self) -> None:
        """A reply overdue past ``timeout`` means a stalled Redis: give up on the connection."""
        self._watchdog = None
        protocol = self._protocol
        if protocol is None or not protocol.waiting:
            return
        if protocol.waiting[0][1] < time.monotonic():
            protocol.abort("Redis did not answer in time")
            return
        self._watch()
