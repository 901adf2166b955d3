"""The disclosure policy: what a Principal may see of what was found. Pure functions.

The node's response builders accept only a `Disclosure` (granularity capped, counts thresholded);
the aggregator passes every count it shows through `threshold` and `total_of`. Budgets, noise and
the external-frequency gate are still to come.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from beacon.auth import Principal
from beacon.results import DatasetHits, Granularity


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


COUNTED = ("total", "individuals")
"""What a dataset's answer counts: matching allele records, or individuals carrying them."""


@dataclass(frozen=True, slots=True)
class Disclosure:
    """What may be returned: at which granularity, and per dataset what was found, its counts
    already as they may be shown (`adjusted` says what changed which count) and the totals."""

    requested: Granularity
    granularity: Granularity
    datasets: tuple[DatasetHits, ...]
    adjusted: Mapping[tuple[str, str], tuple[str, ...]]
    totals: Mapping[str, ShownCount]

    @property
    def exists(self) -> bool:
        return any(hit.exists for hit in self.datasets)

    def shown(self, hits: DatasetHits, kind: str) -> ShownCount:
        """One dataset's `total` or `individuals` count as shown."""
        value = getattr(hits, kind) or 0
        return ShownCount(value, self.adjusted.get((hits.dataset.id, kind), ()))

    def total(self, kind: str) -> ShownCount:
        return self.totals[kind]


def disclose(
    found: list[DatasetHits],
    *,
    principal: Principal,
    requested: Granularity,
    ceiling: Granularity,
    k: int = 1,
    exempt: frozenset[str] = frozenset(),
) -> Disclosure:
    """Cap the granularity; drop record pages when records may not be shown; show no count in
    1..k-1 for a dataset (except the `exempt` ones: the caller's CONTROLLED datasets) or a total.

    Totals are sums of the shown counts, so no total minus exact parts recovers a hidden one.
    """
    granularity = min(requested, ceiling)
    adjusted: dict[tuple[str, str], tuple[str, ...]] = {}
    parts: dict[str, list[ShownCount]] = {kind: [] for kind in COUNTED}
    datasets = []
    for hits in found:
        limit = 1 if hits.dataset.id in exempt else k
        total = threshold(hits.total, limit)
        individuals = None if hits.individuals is None else threshold(hits.individuals, limit)
        for kind, shown in (("total", total), ("individuals", individuals)):
            parts[kind].append(shown or ShownCount(0))
            if shown is not None and shown.adjusted:
                adjusted[(hits.dataset.id, kind)] = shown.adjusted
        page = hits.page if granularity is Granularity.RECORD else ()
        datasets.append(
            DatasetHits(
                hits.dataset,
                total.value,
                page,
                None if individuals is None else individuals.value,
                hits.extra,
            )
        )
    # Every shown part is 0 or at least k unless exempt, so a total below k can only come from
    # the caller's own CONTROLLED datasets: it needs no threshold of its own.
    totals = {kind: total_of(parts[kind], 1) for kind in COUNTED}
    return Disclosure(requested, granularity, tuple(datasets), adjusted, totals)
