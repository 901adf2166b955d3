"""Members' answers kept for reuse (beacon.aggregator.cache): keys, time to live, LRU order."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from beacon.aggregator.cache import AnswerCache, CacheKey

KEY = CacheKey(
    member="se",
    url="http://127.0.0.1:5050",
    versions=(("se-cohort", "r1"), ("se-rare", "r7")),
    tier="anonymous",
    request="g_variants|count|22:99:A>G",
)


class Clock:
    """A clock the test moves by hand; seconds."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def body(n: int) -> dict[str, Any]:
    return {"meta": {"beaconId": f"b{n}"}, "responseSummary": {"exists": n > 0}}


def key(n: int) -> CacheKey:
    return replace(KEY, request=f"request {n}")


def test_hit() -> None:
    cache = AnswerCache(entries=10, ttl=60)
    cache.put(KEY, body(1))
    assert cache.get(KEY) == body(1)
    assert cache.get(replace(KEY)) == body(1)  # an equal key, not the same object
    assert len(cache) == 1


def test_miss() -> None:
    cache = AnswerCache(entries=10, ttl=60)
    assert cache.get(KEY) is None
    cache.put(key(1), body(1))
    assert cache.get(key(2)) is None
    assert len(cache) == 1


@pytest.mark.parametrize(
    ("changed", "value"),
    [
        ("member", "fi"),
        ("url", "http://127.0.0.1:5051"),
        ("versions", (("se-cohort", "r2"), ("se-rare", "r7"))),
        ("versions", (("se-cohort", "r1"),)),
        ("versions", (("se-cohort", "r1"), ("se-rare", "r7"), ("se-new", "r1"))),
        ("tier", "registered"),
        ("request", "g_variants|record|22:99:A>G"),
        ("request", "g_variants|count|22:99:A>G|se-cohort"),
    ],
)
def test_any_part_of_the_key_makes_a_different_entry(changed: str, value: Any) -> None:
    cache = AnswerCache(entries=10, ttl=60)
    other = replace(KEY, **{changed: value})
    cache.put(KEY, body(1))
    assert cache.get(other) is None
    cache.put(other, body(2))
    assert (cache.get(KEY), cache.get(other), len(cache)) == (body(1), body(2), 2)


@pytest.mark.parametrize(
    ("ttl", "elapsed", "hit"),
    [
        (60, 0, True),
        (60, 59.9, True),
        (60, 60, True),
        (60, 60.001, False),
        (60, 3600, False),
        (0, 0, True),
        (0, 0.001, False),
    ],
)
def test_time_to_live(ttl: float, elapsed: float, hit: bool) -> None:
    clock = Clock()
    cache = AnswerCache(entries=10, ttl=ttl, clock=clock)
    cache.put(KEY, body(1))
    clock.now += elapsed
    assert cache.get(KEY) == (body(1) if hit else None)
    assert len(cache) == (1 if hit else 0)  # an expired entry is dropped when found


def test_a_hit_does_not_extend_the_time_to_live() -> None:
    clock = Clock()
    cache = AnswerCache(entries=10, ttl=60, clock=clock)
    cache.put(KEY, body(1))
    clock.now += 50
    assert cache.get(KEY) == body(1)
    clock.now += 20
    assert cache.get(KEY) is None


def test_putting_again_replaces_the_body_and_restarts_the_time_to_live() -> None:
    clock = Clock()
    cache = AnswerCache(entries=10, ttl=60, clock=clock)
    cache.put(KEY, body(1))
    clock.now += 50
    cache.put(KEY, body(2))
    clock.now += 50
    assert cache.get(KEY) == body(2)
    assert len(cache) == 1


@pytest.mark.parametrize(
    ("entries", "steps", "kept"),
    [
        (2, ["put 1", "put 2", "put 3"], [2, 3]),
        (2, ["put 1", "put 2", "get 1", "put 3"], [1, 3]),
        (2, ["put 1", "put 2", "put 1", "put 3"], [1, 3]),
        (2, ["put 1", "put 2", "get 9", "put 3"], [2, 3]),
        (3, ["put 1", "put 2", "put 3", "get 1", "get 2", "put 4", "put 5"], [2, 4, 5]),
        (1, ["put 1", "put 2"], [2]),
        (1, ["put 1", "get 1", "put 2", "put 3"], [3]),
        (3, ["put 1", "put 2"], [1, 2]),
    ],
)
def test_least_recently_used_goes_first(entries: int, steps: list[str], kept: list[int]) -> None:
    cache = AnswerCache(entries=entries, ttl=60)
    for step in steps:
        action, n = step.split()
        if action == "put":
            cache.put(key(int(n)), body(int(n)))
        else:
            cache.get(key(int(n)))
    assert len(cache) == len(kept)
    assert [n for n in range(10) if cache.get(key(n)) is not None] == kept


@pytest.mark.parametrize(("entries", "enabled"), [(0, False), (-1, False), (1, True)])
def test_zero_entries_disables(entries: int, enabled: bool) -> None:
    cache = AnswerCache(entries=entries, ttl=60)
    assert cache.enabled is enabled
    cache.put(KEY, body(1))
    assert len(cache) == (1 if enabled else 0)
    assert cache.get(KEY) == (body(1) if enabled else None)


def test_a_member_without_versions_is_never_cached() -> None:
    cache = AnswerCache(entries=10, ttl=60)
    unversioned = replace(KEY, versions=())
    cache.put(unversioned, body(1))
    assert len(cache) == 0
    assert cache.get(unversioned) is None
    assert cache.enabled  # the cache is on; only this member's answers are not kept


# --- bounded by bytes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "kept"),
    [
        pytest.param(["put 1 40", "put 2 40", "put 3 40"], [2, 3], id="oldest-goes"),
        pytest.param(["put 1 40", "put 2 60"], [1, 2], id="exactly-full"),
        pytest.param(["put 1 100"], [1], id="one-as-large-as-the-cache"),
        pytest.param(["put 1 40", "put 2 101"], [1], id="larger-than-the-cache-refused"),
        pytest.param(["put 1 40", "put 1 101"], [1], id="replacement-too-large-refused"),
        pytest.param(["put 1 10", "put 2 10", "put 3 10", "put 4 95"], [4], id="one-evicts-many"),
        pytest.param(["put 1 40", "put 2 40", "get 1", "put 3 40"], [1, 3], id="least-recent"),
        pytest.param(["put 1 60", "put 1 30", "put 2 60"], [1, 2], id="replaced-size-freed"),
        pytest.param(["put 1 30", "put 2 30", "put 1 80"], [1], id="replacement-grows"),
        pytest.param(["put 1 0", "put 2 0", "put 3 100"], [1, 2, 3], id="size-zero"),
    ],
)
def test_bytes_bound_the_cache(steps: list[str], kept: list[int]) -> None:
    """max_bytes = 100; `put N S` keeps body N as S bytes, `get N` uses it."""
    cache = AnswerCache(entries=10, ttl=60, max_bytes=100)
    for step in steps:
        action, n, *size = step.split()
        if action == "put":
            cache.put(key(int(n)), body(int(n)), int(size[0]))
        else:
            cache.get(key(int(n)))
    assert [n for n in range(10) if cache.get(key(n)) is not None] == kept
    assert len(cache) == len(kept)


def test_an_expired_entry_gives_its_bytes_back() -> None:
    clock = Clock()
    cache = AnswerCache(entries=10, ttl=60, clock=clock, max_bytes=100)
    cache.put(key(1), body(1), 80)
    clock.now += 61
    assert cache.get(key(1)) is None
    cache.put(key(2), body(2), 80)
    cache.put(key(3), body(3), 20)
    assert (cache.get(key(2)), cache.get(key(3)), len(cache)) == (body(2), body(3), 2)


def test_entries_and_bytes_stay_bounded() -> None:
    """Many puts of varied sizes (a few larger than the whole cache): never more than `entries`
    kept, nor more than `max_bytes`, and the latest put kept whenever it fits on its own."""
    entries, max_bytes = 20, 1000
    cache = AnswerCache(entries=entries, ttl=60, max_bytes=max_bytes)
    sizes: dict[int, int] = {}
    for step in range(400):
        n, size = (step * 7) % 60, (step * 37) % 311 + (900 if step % 50 == 0 else 0)
        cache.put(key(n), body(n), size)
        if size <= max_bytes:
            sizes[n] = size
        kept = [m for m in sizes if cache.get(key(m)) is not None]
        assert len(cache) == len(kept) <= entries
        assert sum(sizes[m] for m in kept) <= max_bytes
        if size <= max_bytes:
            assert n in kept
