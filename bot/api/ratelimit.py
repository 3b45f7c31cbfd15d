"""A per-client token bucket: in Redis, shared by every gateway, or in one gateway's memory.

Each client key (the client's address, as :mod:`bot.api.middleware` resolved it behind the
trusted proxies) owns a bucket of `capacity` tokens that refills evenly over `window_s`; a
message takes one token. A customer can therefore send a short burst, then one message every
`window_s / capacity` seconds.

* :class:`RedisTokenBucketLimiter` (production, ``REDIS_HOST``): the bucket is a Redis hash
  updated by one Lua script (atomic, on Redis's own clock), so a client has one budget
  whichever gateway answers. Should Redis fail, each gateway falls back on its own memory
  bucket for that message (logged): limited per gateway rather than not at all.
* :class:`TokenBucketLimiter` (local profile, one gateway): a dictionary of this process.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

logger = logging.getLogger(__name__)


class RateLimiter(Protocol):
    """What the chat route needs: one token for a client, or the seconds to wait."""

    capacity: int
    window_s: float

    async def acquire_async(self, key: str) -> float:
        """0.0 when the message is allowed, else the seconds before the next token."""


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBucketLimiter:
    """Decides whether a client may send one more message now."""

    # Forget buckets that have been full for a while once this many clients are tracked,
    # so a stream of one-off clients cannot grow the dictionary without bound.
    _PRUNE_ABOVE = 10_000

    def __init__(
        self,
        *,
        capacity: int,
        window_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if capacity < 1 or window_s <= 0:
            raise ValueError("a rate limit needs capacity >= 1 and a positive window")
        self.capacity = capacity
        self.window_s = window_s
        self._rate = capacity / window_s  # tokens per second
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def acquire(self, key: str) -> float:
        """Takes one token for `key`.

        Returns:
            0.0 when the message is allowed, else the seconds to wait before the next token.
        """
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._PRUNE_ABOVE:
                self._prune(now)
            bucket = self._buckets[key] = _Bucket(tokens=float(self.capacity), updated=now)
        else:
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(float(self.capacity), bucket.tokens + elapsed * self._rate)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self._rate

    async def acquire_async(self, key: str) -> float:
        """:meth:`acquire` for the async route (no I/O: it never blocks)."""
        return self.acquire(key)

    @staticmethod
    def retry_after_header(wait_s: float) -> str:
        """`wait_s` as a Retry-After value: whole seconds, rounded up, at least 1."""
        return retry_after_header(wait_s)

    def _prune(self, now: float) -> None:
        full_after = self.window_s  # an idle bucket is full again after one window
        stale = [k for k, b in self._buckets.items() if now - b.updated >= full_after]
        for key in stale:
            del self._buckets[key]


def retry_after_header(wait_s: float) -> str:
    """`wait_s` as a Retry-After value: whole seconds, rounded up, at least 1."""
    return str(max(1, math.ceil(wait_s)))


# KEYS[1]: the client's bucket (a hash: tokens, updated). ARGV: capacity, tokens per second,
# expiry in ms (a bucket idle that long is full again: Redis forgets it). Returns the wait in
# seconds, as a string (Redis would truncate a Lua number to an integer).
_ACQUIRE_LUA = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = tonumber(state[1])
local updated = tonumber(state[2])
if tokens == nil or updated == nil then
  tokens = capacity
  updated = now
end
tokens = math.min(capacity, tokens + math.max(0, now - updated) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', tostring(now))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return tostring(wait)
"""


class RedisTokenBucketLimiter:
    """The same token bucket, kept in Redis: one budget per client across every gateway."""

    def __init__(
        self,
        redis: Any,
        *,
        capacity: int,
        window_s: float,
        key_prefix: str = "shopsupport",
        fallback: TokenBucketLimiter | None = None,
    ) -> None:
        """Creates a limiter.

        Args:
            redis: a ``redis.asyncio.Redis`` client (its connections open on first use).
            capacity, window_s: as :class:`TokenBucketLimiter`.
            key_prefix: Redis keys are ``<prefix>:chat-rate:<client>``.
            fallback: the bucket used while Redis fails (one of this process by default).
        """
        if capacity < 1 or window_s <= 0:
            raise ValueError("a rate limit needs capacity >= 1 and a positive window")
        self.capacity = capacity
        self.window_s = window_s
        self._rate = capacity / window_s
        self._redis = redis
        self._prefix = f"{key_prefix}:chat-rate:"
        self._script = redis.register_script(_ACQUIRE_LUA)
        self._fallback = fallback or TokenBucketLimiter(capacity=capacity, window_s=window_s)
        self._expiry_ms = max(1, math.ceil(window_s * 1000))

    async def acquire_async(self, key: str) -> float:
        """Takes one token for `key` in Redis (this process's bucket if Redis fails)."""
        try:
            wait = await self._script(
                keys=[self._prefix + key[:200]],
                args=[self.capacity, repr(self._rate), self._expiry_ms],
            )
            return float(wait.decode() if isinstance(wait, bytes) else wait)
        except Exception as exc:  # noqa: BLE001 - any Redis failure: limit locally instead
            logger.warning("Chat rate limit: Redis failed (%s); this gateway's bucket instead", exc)
            return self._fallback.acquire(key)

    @staticmethod
    def retry_after_header(wait_s: float) -> str:
        """`wait_s` as a Retry-After value: whole seconds, rounded up, at least 1."""
        return retry_after_header(wait_s)

    async def aclose(self) -> None:
        """Closes the Redis connections."""
        await self._redis.aclose()
