"""A member's circuit breaker (beacon.aggregator.registry.Breaker): pure logic, explicit times."""

from __future__ import annotations

import pytest

from beacon.aggregator.registry import Breaker

THRESHOLD, PROBE_AFTER = 3, 30.0
T0 = 1000.0


def opened(at: float = T0, threshold: int = THRESHOLD) -> Breaker:
    """A breaker whose `threshold`-th consecutive failure was recorded at `at`."""
    breaker = Breaker()
    for _ in range(threshold):
        breaker.record(False, at, threshold, PROBE_AFTER)
    return breaker


def allows(breaker: Breaker, now: float, threshold: int = THRESHOLD) -> bool:
    return breaker.allows(now, threshold, PROBE_AFTER)


@pytest.mark.parametrize("threshold", [1, 2, 3, 5, 10])
def test_closed_until_threshold(threshold: int) -> None:
    breaker = Breaker()
    for failures in range(threshold - 1):
        assert breaker.failures == failures
        assert all(allows(breaker, T0, threshold) for _ in range(3))
        breaker.record(False, T0, threshold, PROBE_AFTER)
    assert allows(breaker, T0, threshold)
    breaker.record(False, T0, threshold, PROBE_AFTER)
    assert breaker.failures == threshold
    assert not allows(breaker, T0, threshold)


def test_only_consecutive_failures_count() -> None:
    breaker = Breaker()
    for ok in (False, False, True, False, False, True, False, False):
        breaker.record(ok, T0, THRESHOLD, PROBE_AFTER)
        assert allows(breaker, T0)
    assert breaker.failures == 2


@pytest.mark.parametrize(
    ("after", "allowed", "reopens_in"),
    [
        (0.0, False, 30.0),
        (0.5, False, 29.5),
        (29.9, False, 0.1),
        (30.0, True, 0.0),
        (31.0, True, 0.0),
        (3600.0, True, 0.0),
    ],
)
def test_open_refuses_until_probe_after(after: float, allowed: bool, reopens_in: float) -> None:
    breaker = opened()
    assert breaker.reopens_in(T0 + after) == pytest.approx(reopens_in)
    assert allows(breaker, T0 + after) is allowed


@pytest.mark.parametrize("probe_at", [30.0, 45.0, 500.0])
def test_one_probe_per_window(probe_at: float) -> None:
    breaker = opened()
    assert allows(breaker, T0 + probe_at)
    # while the probe is out, everyone else waits a full window from the probe's start
    assert breaker.reopens_in(T0 + probe_at) == pytest.approx(PROBE_AFTER)
    for waited in (0.0, 0.0, 1.0, 29.9):
        assert not allows(breaker, T0 + probe_at + waited)
    # a probe that never reported back (abandoned at the deadline): one more, then wait again
    assert allows(breaker, T0 + probe_at + 30.0)
    assert not allows(breaker, T0 + probe_at + 30.0)
    assert not allows(breaker, T0 + probe_at + 59.9)


def test_probe_success_closes() -> None:
    breaker = opened()
    assert allows(breaker, T0 + 30)
    breaker.record(True, T0 + 31, THRESHOLD, PROBE_AFTER)
    assert breaker.failures == 0
    assert all(allows(breaker, T0 + 31) for _ in range(5))
    # closed again: it takes `threshold` new failures to open it
    for _ in range(THRESHOLD - 1):
        breaker.record(False, T0 + 32, THRESHOLD, PROBE_AFTER)
        assert allows(breaker, T0 + 32)
    breaker.record(False, T0 + 32, THRESHOLD, PROBE_AFTER)
    assert not allows(breaker, T0 + 32)
    assert allows(breaker, T0 + 62)


def test_probe_failure_reopens() -> None:
    breaker = opened()
    assert allows(breaker, T0 + 30)
    breaker.record(False, T0 + 33, THRESHOLD, PROBE_AFTER)
    assert breaker.failures == THRESHOLD + 1
    assert breaker.reopens_in(T0 + 33) == pytest.approx(PROBE_AFTER)
    assert not allows(breaker, T0 + 33)
    assert not allows(breaker, T0 + 62.9)
    assert allows(breaker, T0 + 63)
    assert not allows(breaker, T0 + 63)


def test_late_failures_while_open_push_the_probe_back() -> None:
    """Requests let through before it opened may still fail; each restarts the wait."""
    breaker = opened()
    breaker.record(False, T0 + 10, THRESHOLD, PROBE_AFTER)
    assert not allows(breaker, T0 + 30)
    assert allows(breaker, T0 + 40)


def test_late_success_while_open_closes() -> None:
    breaker = opened()
    breaker.record(True, T0 + 5, THRESHOLD, PROBE_AFTER)
    assert allows(breaker, T0 + 5)
    assert allows(breaker, T0 + 5)


def test_never_failed() -> None:
    breaker = Breaker()
    assert breaker.reopens_in(T0) == 0.0
    assert all(allows(breaker, T0 + t) for t in range(5))
    assert breaker == Breaker()  # asking changes nothing while closed
