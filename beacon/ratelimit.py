"""Per-client request limits: a token bucket per client, refilled continuously.

A client is the signed-in pseudonym, else the address the request came from. The bucket holds a
minute's worth of requests, so a client may burst to the limit and then goes at the limit's
pace. Buckets live in memory, bounded in number: a node restart forgets them (budgets, which must
not be forgotten, are in the database).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable


class RateLimiter:
    def __init__(
        self,
        per_minute: int,
        *,
        clients: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = float(per_minute)
        self.refill = per_minute / 60.0
        self._clients = clients
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, client: str) -> float:
        """Spend one request of `client`'s bucket: 0 when allowed, else the seconds to wait."""
        now = self._clock()
        tokens, then = self._buckets.pop(client, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - then) * self.refill)
        if tokens >= 1.0:
            self._buckets[client] = (tokens - 1.0, now)
            wait = 0.0
        else:
            self._buckets[client] = (tokens, now)
            wait = (1.0 - tokens) / self.refill
        if len(self._buckets) > self._clients:  # the longest idle client; it comes back full
            self._buckets.popitem(last=False)
        return wait


def retry_after(wait: float) -> str:
    """A Retry-After header value: whole seconds, at least 1."""
    return str(max(1, math.ceil(wait)))
