"""Variant storage: the VariantStore protocol and its MongoDB implementation."""

from __future__ import annotations

from typing import Protocol

from beacon.query import AlleleQuery
from beacon.results import Carried, DatasetHits, DatasetInfo


class VariantStore(Protocol):
    """What the node needs from storage; every method may raise StoreUnavailable."""

    async def ping(self) -> None:
        """Raises StoreUnavailable when the database does not answer."""
        ...

    async def datasets(self) -> list[DatasetInfo]:
        """Every dataset that has a published release."""
        ...

    async def search(
        self,
        query: AlleleQuery,
        datasets: list[DatasetInfo],
        *,
        skip: int,
        limit: int,
        individuals: bool,
    ) -> list[DatasetHits]:
        """Per dataset: matches, one page of them (limit 0: none), and optionally carriers."""
        ...

    async def carriers(self, query: AlleleQuery | str, ds: DatasetInfo) -> Carried:
        """The matched alleles' own counts and the samples carrying any of them."""
        ...

    async def variant(self, key: str, datasets: list[DatasetInfo]) -> list[DatasetHits]:
        """One allele by id in each dataset."""
        ...
