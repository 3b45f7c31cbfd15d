"""The token bucket behind the chat's rate limit, on a clock the test moves."""

from __future__ import annotations

import pytest

from bot.api.ratelimit import TokenBucketLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_up_to_capacity_then_one_message_per_interval() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(capacity=30, window_s=60.0, clock=clock)
    assert all(limiter.acquire("a") == 0.0 for _ in range(30))
    assert limiter.acquire("a") == pytest.approx(2.0)  # one token every 60/30 s
    clock.now += 1.0
    assert limiter.acquire("a") == pytest.approx(1.0)
    clock.now += 1.0
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") == pytest.approx(2.0)


def test_clients_do_not_share_a_bucket() -> None:
    limiter = TokenBucketLimiter(capacity=1, window_s=10.0, clock=Clock())
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") > 0
    assert limiter.acquire("b") == 0.0


def test_an_idle_client_refills_to_capacity_and_no_more() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(capacity=2, window_s=10.0, clock=clock)
    limiter.acquire("a")
    limiter.acquire("a")
    clock.now += 3600
    assert [limiter.acquire("a") == 0.0 for _ in range(3)] == [True, True, False]


def test_retry_after_is_whole_seconds_rounded_up() -> None:
    assert TokenBucketLimiter.retry_after_header(0.01) == "1"
    assert TokenBucketLimiter.retry_after_header(2.0) == "2"
    assert TokenBucketLimiter.retry_after_header(2.1) == "3"


def test_stale_buckets_are_forgotten_when_many_clients_were_seen() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(capacity=1, window_s=10.0, clock=clock)
    limiter._PRUNE_ABOVE = 3
    for key in ("a", "b", "c"):
        limiter.acquire(key)
    clock.now += 11
    limiter.acquire("d")
    assert set(limiter._buckets) == {"d"}


def test_a_limit_needs_a_positive_budget() -> None:
    with pytest.raises(ValueError, match="capacity"):
        TokenBucketLimiter(capacity=0, window_s=60)
