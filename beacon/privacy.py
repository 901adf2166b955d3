"""The disclosure policy: what a Principal may see of what the store found. Pure functions.

The response builders accept only a `Disclosure`, so no answer can skip this module. Today the
policy caps granularity at the node's configured ceiling; thresholds and budgets build on it.
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
