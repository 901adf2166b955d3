"""The token bucket of per-client request limits, on a clock the test moves."""

from __future__ import annotations

import pytest

from beacon.ratelimit import RateLimiter, retry_after


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_client_bursts_to_the_limit_then_waits_for_the_refill() -> None:
    clock = Clock()
    limiter = RateLimiter(60, clock=clock)  # one request per second, 60 at once
    assert [limiter.take("a") for _ in range(60)] == [0.0] * 60
    assert limiter.take("a") == pytest.approx(1.0)
    clock.now += 0.5
    assert limiter.take("a") == pytest.approx(0.5)  # a refused request does not spend
    clock.now += 0.5
    assert limiter.take("a") == 0.0
    assert limiter.take("a") == pytest.approx(1.0)


def test_clients_have_their_own_buckets() -> None:
    limiter = RateLimiter(2, clock=Clock())
    assert [limiter.take("a"), limiter.take("a"), limiter.take("b")] == [0.0, 0.0, 0.0]
    assert limiter.take("a") > 0 and limiter.take("b") == 0.0


def test_a_bucket_never_holds_more_than_a_minute_of_requests() -> None:
    clock = Clock()
    limiter = RateLimiter(3, clock=clock)
    limiter.take("a")
    clock.now += 3600
    assert [limiter.take("a") for _ in range(3)] == [0.0] * 3
    assert limiter.take("a") == pytest.approx(20.0)  # 3 per minute: one every 20 s


def test_the_number_of_buckets_is_bounded() -> None:
    clock = Clock()
    limiter = RateLimiter(1, clients=3, clock=clock)
    for client in "abcd":
        assert limiter.take(client) == 0.0
    assert len(limiter._buckets) == 3
    assert limiter.take("d") > 0  # the newest are kept


@pytest.mark.parametrize(("wait", "header"), [(0.01, "1"), (1.0, "1"), (1.2, "2"), (19.5, "20")])
def test_retry_after_is_whole_seconds_rounded_up(wait: float, header: str) -> None:
    assert retry_after(wait) == header
