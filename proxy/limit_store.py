"""Atomic counters for rate limits, concurrency leases and token budgets.

Every counter a request touches is checked and taken in one step: on Redis by one Lua
script (one round trip, all-or-nothing, so N parallel requests against a limit L admit
exactly min(N, L) across any number of gateway processes); without Redis by the same
algorithm in process memory (exact for the one process it serves).

The clock is the gateway's, passed in, never Redis's: tests can move it, and every process
of a deployment agrees within NTP accuracy.

Kinds of check:
* ``window`` — requests in a sliding window (a log of admission times, exact);
* ``tokens`` — tokens in a sliding window, each request holding ``id:tokens``;
* ``lease`` — in-flight requests; a lease expires by itself, so a crashed worker's
  requests free their slots after ``ttl_ms``;
* ``budget`` — tokens used in a calendar period; admitted while below the limit.

The ``tokens`` log keeps a running sum in ``<key>:sum`` (same hash tag, so the same Redis
Cluster slot), so a check reads only the entries leaving the window, not the whole log.

Why not the ``limits`` library: it models request windows only, not leases, token
reservations settled after the answer, or several counters taken atomically together.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import orjson

from proxy.redis_cluster_pipe import ClusterRedisPipe
from proxy.redis_pipe import LuaScript, RedisPipe, RedisPipeError


@dataclass(slots=True)
class Check:
    kind: str  # window | tokens | lease | budget
    key: str
    limit: int
    reason: str
    cost: int = 0
    window_ms: int = 60_000
    ttl_ms: int = 0
    retry_ms: int = 1000


@dataclass(slots=True)
class Admission:
    admitted: bool
    failed: Check | None = None
    retry_ms: int = 0
    # Per check, what was used before this request: (count or tokens, oldest entry time in ms).
    usage: list[tuple[int, int]] = field(default_factory=list)


@dataclass(slots=True)
class Settlement:
    kind: str  # tokens | lease | budget
    key: str
    estimate: int = 0
    actual: int = 0
    at_ms: int = 0


class LimitStoreUnavailable(Exception):
    """The shared counter store cannot be reached; the tenant's fail mode decides."""


ADMIT_LUA = """
local now = tonumber(ARGV[1])
local member = ARGV[2]
local checks = cjson.decode(ARGV[3])
local usage = {}
for i, c in ipairs(checks) do
  local key = KEYS[i]
  local used, oldest = 0, now
  if c.kind == 'window' or c.kind == 'tokens' then
    if c.kind == 'tokens' then
      -- A running sum beside the log: only the entries leaving the window are read.
      local gone = 0
      for _, m in ipairs(redis.call('ZRANGEBYSCORE', key, '-inf', now - c.window_ms)) do
        gone = gone + tonumber(string.match(m, ':(%d+)$'))
      end
      if gone > 0 then redis.call('DECRBY', key .. ':sum', gone) end
    end
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now - c.window_ms)
    local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    if first[2] then oldest = tonumber(first[2]) end
    if c.kind == 'window' then
      used = redis.call('ZCARD', key)
    elseif first[2] then
      used = tonumber(redis.call('GET', key .. ':sum') or '0')
    else
      redis.call('DEL', key .. ':sum')
    end
    if used >= c.limit then return {0, i, oldest + c.window_ms - now} end
  elseif c.kind == 'lease' then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    used = redis.call('ZCARD', key)
    if used >= c.limit then return {0, i, c.retry_ms} end
  elseif c.kind == 'budget' then
    used = tonumber(redis.call('GET', key) or '0')
    if used >= c.limit then return {0, i, c.retry_ms} end
  end
  usage[i] = {used, oldest}
end
for i, c in ipairs(checks) do
  local key = KEYS[i]
  if c.kind == 'window' then
    redis.call('ZADD', key, now, member)
    redis.call('PEXPIRE', key, c.window_ms)
  elseif c.kind == 'tokens' then
    redis.call('ZADD', key, now, member .. ':' .. c.cost)
    redis.call('INCRBY', key .. ':sum', c.cost)
    redis.call('PEXPIRE', key, c.window_ms)
    redis.call('PEXPIRE', key .. ':sum', c.window_ms)
  elseif c.kind == 'lease' then
    redis.call('ZADD', key, now + c.ttl_ms, member)
    redis.call('PEXPIRE', key, c.ttl_ms)
  elseif c.kind == 'budget' then
    redis.call('INCRBY', key, c.cost)
    redis.call('PEXPIRE', key, c.ttl_ms)
  end
end
return {1, cjson.encode(usage)}
"""

SETTLE_LUA = """
local member = ARGV[1]
local items = cjson.decode(ARGV[2])
for i, s in ipairs(items) do
  local key = KEYS[i]
  if s.kind == 'tokens' then
    if redis.call('ZREM', key, member .. ':' .. s.estimate) == 1 then
      redis.call('DECRBY', key .. ':sum', s.estimate - s.actual)
      if s.actual > 0 then redis.call('ZADD', key, s.at_ms, member .. ':' .. s.actual) end
    end
  elseif s.kind == 'lease' then
    redis.call('ZREM', key, member)
  elseif s.kind == 'budget' then
    if s.actual ~= s.estimate and redis.call('EXISTS', key) == 1 then
      redis.call('INCRBY', key, s.actual - s.estimate)
    end
  end
end
return 1
"""

_TOKENS_OF = re.compile(r":(\d+)$")


def _tokens_of(member: str) -> int:
    """The tokens a window entry carries, the number after its last colon."""
    found = _TOKENS_OF.search(member)
    return int(found[1]) if found is not None else 0


def _checks_json(checks: list[Check]) -> bytes:
    return orjson.dumps(
        [
            {"kind": c.kind, "limit": c.limit, "cost": c.cost, "window_ms": c.window_ms, "ttl_ms": c.ttl_ms,
             "retry_ms": c.retry_ms}
            for c in checks
        ]
    )  # fmt: skip


ADMIT_SCRIPT = LuaScript(ADMIT_LUA)
SETTLE_SCRIPT = LuaScript(SETTLE_LUA)


class RedisLimitStore:
    """Over :class:`proxy.redis_pipe.RedisPipe` (or one per master of a Redis Cluster): these two
    scripts run on every request."""

    def __init__(self, pipe: RedisPipe | ClusterRedisPipe) -> None:
        self._pipe = pipe

    async def admit(self, checks: list[Check], *, member: str, now_ms: int) -> Admission:
        try:
            result = await self._pipe.evalsha(
                ADMIT_SCRIPT, [c.key for c in checks], [now_ms, member, _checks_json(checks)]
            )
        except (RedisPipeError, OSError) as exc:
            raise LimitStoreUnavailable from exc
        if int(result[0]) == 0:
            failed = checks[int(result[1]) - 1]
            return Admission(False, failed, max(0, int(float(result[2]))))
        raw = orjson.loads(result[1])
        # cjson encodes an empty table as {} rather than [].
        usage = [(int(u[0]), int(u[1])) for u in raw] if isinstance(raw, list) else []
        return Admission(True, usage=usage)

    async def settle(self, settlements: list[Settlement], *, member: str) -> None:
        items = [{"kind": s.kind, "estimate": s.estimate, "actual": s.actual, "at_ms": s.at_ms} for s in settlements]
        try:
            await self._pipe.evalsha(SETTLE_SCRIPT, [s.key for s in settlements], [member, orjson.dumps(items)])
        except (RedisPipeError, OSError) as exc:
            raise LimitStoreUnavailable from exc


class MemoryLimitStore:
    """The same algorithm in process memory; no awaits inside, so each call is atomic."""

    def __init__(self) -> None:
        self._logs: dict[str, list[tuple[int, str]]] = {}
        self._leases: dict[str, dict[str, int]] = {}
        self._budgets: dict[str, tuple[int, int]] = {}  # key → (used, expires_ms)

    async def admit(self, checks: list[Check], *, member: str, now_ms: int) -> Admission:
        usage: list[tuple[int, int]] = []
        for check in checks:
            used, oldest = 0, now_ms
            if check.kind in ("window", "tokens"):
                log = [(t, m) for t, m in self._logs.get(check.key, []) if t > now_ms - check.window_ms]
                self._logs[check.key] = log
                if log:
                    oldest = min(t for t, _ in log)
                used = len(log) if check.kind == "window" else sum(_tokens_of(m) for _, m in log)
                if used >= check.limit:
                    return Admission(False, check, max(0, oldest + check.window_ms - now_ms))
            elif check.kind == "lease":
                leases = {m: t for m, t in self._leases.get(check.key, {}).items() if t > now_ms}
                self._leases[check.key] = leases
                used = len(leases)
                if used >= check.limit:
                    return Admission(False, check, check.retry_ms)
            elif check.kind == "budget":
                used, expires = self._budgets.get(check.key, (0, 0))
                if expires <= now_ms:
                    used = 0
                if used >= check.limit:
                    return Admission(False, check, check.retry_ms)
            usage.append((used, oldest))
        for check in checks:
            if check.kind == "window":
                self._logs[check.key].append((now_ms, member))
            elif check.kind == "tokens":
                self._logs[check.key].append((now_ms, f"{member}:{check.cost}"))
            elif check.kind == "lease":
                self._leases[check.key][member] = now_ms + check.ttl_ms
            elif check.kind == "budget":
                used, expires = self._budgets.get(check.key, (0, 0))
                used = used if expires > now_ms else 0
                self._budgets[check.key] = (used + check.cost, now_ms + check.ttl_ms)
        return Admission(True, usage=usage)

    async def settle(self, settlements: list[Settlement], *, member: str) -> None:
        for s in settlements:
            if s.kind == "tokens":
                log = self._logs.get(s.key, [])
                entry = (s.at_ms, f"{member}:{s.estimate}")
                if entry in log:
                    log.remove(entry)
                    if s.actual > 0:
                        log.append((s.at_ms, f"{member}:{s.actual}"))
            elif s.kind == "lease":
                self._leases.get(s.key, {}).pop(member, None)
            elif s.kind == "budget" and s.key in self._budgets:
                used, expires = self._budgets[s.key]
                self._budgets[s.key] = (used + s.actual - s.estimate, expires)


def retry_after_seconds(retry_ms: int) -> int:
    return max(1, math.ceil(retry_ms / 1000))


def limit_store_for(pipe: RedisPipe | ClusterRedisPipe | None) -> RedisLimitStore | MemoryLimitStore:
    return RedisLimitStore(pipe) if pipe is not None else MemoryLimitStore()


__all__ = ["Admission", "Check", "LimitStoreUnavailable", "Settlement", "limit_store_for", "retry_after_seconds"]
