"""A per-client token bucket, kept in the gateway's memory.

Each client key (the client IP) owns a bucket of `capacity` tokens that refills evenly over
`window_s`; a message takes one token. A customer can therefore send a short burst, then one
message every `window_s / capacity` seconds. The state is per process: with several gateway
processes behind a load balancer, each enforces its own share, which is enough to stop a
script from flooding Rasa through one gateway.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


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

    @staticmethod
    def retry_after_header(wait_s: float) -> str:
        """`wait_s` as a Retry-After value: whole seconds, rounded up, at least 1."""
        return str(max(1, math.ceil(wait_s)))

    def _prune(self, now: float) -> None:
        full_after = self.window_s  # an idle bucket is full again after one window
        stale = [k for k, b in self._buckets.items() if now - b.updated >= full_after]
        for key in stale:
            del self._buckets[key]
