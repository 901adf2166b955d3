"""Members' answers kept for reuse, keyed so that a re-ingest at a member is never served stale.

A key holds the member (id and URL), the datasets and versions it had when it answered, the
caller's access tier and the canonical request: a new release at the member changes its versions,
so the old entries are simply never looked up again (and age out).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Versions = tuple[tuple[str, str], ...]
"""(dataset id, version) pairs of one member, sorted."""


@dataclass(frozen=True, slots=True)
class CacheKey:
    member: str
    url: str
    versions: Versions
    tier: str
    request: str
    credential: str = ""
    """Fingerprint of the aggregator's token at the member: a new token, new answers."""


class AnswerCache:
    """A bounded LRU of validated member bodies with a time to live (entries=0 disables it).

    Bounded twice: by entries, and by `max_bytes` of answers as the members sent them (a parsed
    body takes several times that in memory; count answers are a few hundred bytes).
    """

    def __init__(
        self,
        entries: int,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
        max_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        self._entries = entries
        self._ttl = ttl
        self._clock = clock
        self._max_bytes = max_bytes
        self._bytes = 0
        self._items: OrderedDict[CacheKey, tuple[float, int, dict[str, Any]]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self._entries > 0

    def get(self, key: CacheKey) -> dict[str, Any] | None:
        item = self._items.get(key)
        if item is None:
            return None
        stored, _, body = item
        if self._clock() - stored > self._ttl:
            self._drop(key)
            return None
        self._items.move_to_end(key)
        return body

    def put(self, key: CacheKey, body: dict[str, Any], size: int = 0) -> None:
        """Keep `body` (`size`: its length as received, in bytes) unless it cannot be kept."""
        if self._entries <= 0 or not key.versions or size > self._max_bytes:
            return  # a member whose versions are unknown is never cached
        if key in self._items:
            self._drop(key)
        self._items[key] = (self._clock(), size, body)
        self._bytes += size
        while len(self._items) > self._entries or self._bytes > self._max_bytes:
            self._drop(next(iter(self._items)))

    def _drop(self, key: CacheKey) -> None:
        _, size, _ = self._items.pop(key)
        self._bytes -= size

    def __len__(self) -> int:
        return len(self._items)
