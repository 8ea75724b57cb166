"""The Redis backend of :class:`~scillm.batch.limits.base.Limiter`: GCRA in Lua on the server's
clock.

Each acquire is one script call: it refuses while the endpoint's cooldown key lives (set on a
429), else admits the request when both the request and the token schedules allow it (generic
cell rate algorithm: one "theoretical arrival time" per schedule, read and moved atomically with
the server's ``TIME``, so clocks of the workers never matter). A refused caller sleeps for the
wait the script returned and asks again: no polling interval, no lock.

Keys: ``scillm:{ns}:{endpoint}:rpm``, ``…:tpm`` and ``…:cooldown`` (``ns``: a hash of the API key).
Requests and tokens are spaced strictly (burst: one request, whatever its cost): provider windows
slide, and a burst at the start of one is a 429 at its end. A request's tokens move the token
schedule by their cost; :meth:`RedisLimiter.settle` moves it back by what the reply did not use.
Needs Redis 7 (``PEXPIRE … GT``).
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from scillm.batch.limits.base import HEADROOM, Rates

__all__ = ["RedisLimiter"]

_ACQUIRE = """
local pttl = redis.call('PTTL', KEYS[3])
if pttl > 0 then return pttl * 1000 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local req_i, tok_i = tonumber(ARGV[1]), tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local wait, req_tat, tok_tat = 0, now, now
if req_i > 0 then
  req_tat = math.max(tonumber(redis.call('GET', KEYS[1]) or 0), now)
  wait = req_tat - now
end
if tok_i > 0 then
  tok_tat = math.max(tonumber(redis.call('GET', KEYS[2]) or 0), now)
  wait = math.max(wait, tok_tat - now)
end
if wait > 0 then return math.ceil(wait) end
if req_i > 0 then
  local tat = req_tat + req_i
  redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
end
if tok_i > 0 then
  local tat = tok_tat + cost * tok_i
  redis.call('SET', KEYS[2], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
end
return 0
"""
"""KEYS: rpm, tpm, cooldown. ARGV: µs per request, µs per token, cost (tokens).
Returns 0 (admitted) or the µs to wait before asking again."""

_SETTLE = """
local tat = redis.call('GET', KEYS[1])
if not tat then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local new = math.max(tonumber(tat) + tonumber(ARGV[1]) * tonumber(ARGV[2]), now)
redis.call('SET', KEYS[1], string.format('%.0f', new), 'PX', math.ceil((new - now) / 1000) + 1000)
return 1
"""
"""KEYS: tpm. ARGV: µs per token, tokens to add (negative: refund). Never moves before now."""

MAX_CONNECTIONS = 16
"""Connections per limiter; more callers wait for one (redis-py's default pool raises)."""


class RedisLimiter:
    """GCRA rpm/tpm and a shared cooldown per endpoint, in Redis; see the module docstring."""

    def __init__(self, url: str, rates: Rates, ns: str) -> None:
        self.url, self.rates, self.ns = url, rates, ns
        self._req_us = 60e6 / (rates.rpm * HEADROOM) if rates.rpm else 0.0
        self._tok_us = 60e6 / (rates.tpm * HEADROOM) if rates.tpm else 0.0
        self._client: Any = None
        self._pool: Any = None
        self._scripts: dict[str, Any] = {}

    def _redis(self) -> Any:
        if self._client is None:
            import redis.asyncio as aioredis

            pool = aioredis.BlockingConnectionPool.from_url(
                self.url, max_connections=MAX_CONNECTIONS, timeout=None
            )
            self._pool = pool
            self._client = aioredis.Redis(connection_pool=pool)
            self._scripts = {
                "acquire": self._client.register_script(_ACQUIRE),
                "settle": self._client.register_script(_SETTLE),
            }
        return self._client

    def key(self, endpoint: str, kind: str) -> str:
        return f"scillm:{self.ns}:{endpoint}:{kind}"

    async def ping(self) -> None:
        """Raise when Redis cannot be reached (a clear error before any work)."""
        await self._redis().ping()

    async def acquire(self, endpoint: str, cost: int) -> int:
        charged = max(cost, 1) if self._tok_us else 0
        self._redis()
        keys = [self.key(endpoint, k) for k in ("rpm", "tpm", "cooldown")]
        args = [self._req_us, self._tok_us, charged]
        while True:
            wait_us = int(await self._scripts["acquire"](keys=keys, args=args))
            if wait_us <= 0:
                return charged
            wait = wait_us / 1e6
            await asyncio.sleep(wait + random.uniform(0, min(0.005, wait / 10)))

    async def settle(self, endpoint: str, charged: int, spent: int) -> None:
        if not self._tok_us or spent == charged:
            return
        self._redis()
        keys = [self.key(endpoint, "tpm")]
        await self._scripts["settle"](keys=keys, args=[self._tok_us, spent - charged])

    async def penalize(self, endpoint: str, retry_after_s: float) -> None:
        ms = max(1, int(retry_after_s * 1000))
        key = self.key(endpoint, "cooldown")
        async with self._redis().pipeline(transaction=True) as pipe:
            pipe.set(key, 1, px=ms, nx=True)
            pipe.pexpire(key, ms, gt=True)
            await pipe.execute()

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            await self._pool.disconnect()
            self._client = self._pool = None
