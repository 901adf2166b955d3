"""The disclosure policy: what a Principal may see of what was found. Pure functions.

The node's response builders accept only a `Disclosure` (today: a granularity ceiling); the
aggregator passes every count it shows through `threshold` and `total_of`. Access tiers, the
node's own thresholds and budgets build on these.
"""

from __future__ import annotations

from dataclasses import dataclass

from beacon.auth import Principal
from beacon.results import DatasetHits, Granularity


@dataclass(frozen=True, slots=True)
class Disclosure:
    """What may be returned: at which granularity, and per dataset what was found."""

    requested: Granularity
    granularity: Granularity
    datasets: tuple[DatasetHits, ...]

    @property
    def exists(self) -> bool:
        return any(hit.exists for hit in self.datasets)


def disclose(
    found: list[DatasetHits], *, principal: Principal, requested: Granularity, ceiling: Granularity
) -> Disclosure:
    """Cap the granularity; drop record pages when records may not be shown."""
    granularity = min(requested, ceiling)
    datasets = tuple(found)
    if granularity < Granularity.RECORD:
        datasets = tuple(
            DatasetHits(h.dataset, h.total, (), h.individuals, h.extra) for h in datasets
        )
    return Disclosure(requested, granularity, datasets)


@dataclass(frozen=True, slots=True)
class ShownCount:
    """A count as it may be shown: the value, and what was done to it.

    `adjusted` names the rules that changed it (`"threshold"`: a true count in 1..k-1 is shown as
    k); `precision` is `"exact"` only when nothing was adjusted, here or upstream.
    """

    value: int
    adjusted: tuple[str, ...] = ()

    @property
    def precision(self) -> str:
        return "imprecise" if self.adjusted else "exact"


def threshold(count: int, k: int, upstream: tuple[str, ...] = ()) -> ShownCount:
    """No count in 1..k-1 is ever shown: it becomes k. Zero stays zero (nothing to hide).

    `upstream` carries adjustments a member already made, so an imprecise count stays marked so.
    """
    if 0 < count < k:
        return ShownCount(k, tuple(dict.fromkeys((*upstream, "threshold"))))
    return ShownCount(count, upstream)


def total_of(parts: list[ShownCount], k: int) -> ShownCount:
    """A total built from what its parts show, never from their true values.

    Summing the true counts would let anyone subtract the exact parts from the total and recover
    a suppressed one; summing the shown values keeps every part's adjustment in the total.
    """
    adjusted = tuple(dict.fromkeys(a for part in parts for a in part.adjusted))
    return threshold(sum(part.value for part in parts), k, adjusted)
