"""Reference population frequencies (a gnomAD-style sites VCF), read by the PUBLIC gate.

Never the beacon's own counts: membership moves those. One collection per load,
`reference__<assembly>__<stamp>`, laid out like a release (same `_id`, fields and index, plus
`af`), and a `references` catalog document per assembly pointing at the current one, so a new load
replaces the old in one update.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from beacon.privacy import weight
from beacon.query import AlleleQuery
from beacon.store.mongo import _unavailable, allele_of, matching

REFERENCES = "references"
_FIELDS = {"chrom": 1, "start": 1, "end": 1, "ref": 1, "alt": 1, "vt": 1, "af": 1}


def reference_collection(assembly: str, stamp: str) -> str:
    return f"reference__{assembly}__{stamp}"


class ReferenceFrequencies:
    """Per query, the reference weight of the alleles it matches (see `privacy.weight`) and the
    frequency of each. Answers are cached by load and query: a reference changes only by a new
    load, which has a new collection."""

    def __init__(
        self, db: AsyncDatabase[dict[str, Any]], *, ttl: float = 5.0, entries: int = 20_000
    ) -> None:
        self.db = db
        self._ttl = ttl
        self._catalog: tuple[float, dict[str, str]] | None = None
        self._entries = entries
        self._cache: OrderedDict[tuple[str, str], tuple[float, dict[str, float]]] = OrderedDict()

    async def loaded(self) -> dict[str, str]:
        """Assembly -> the collection of its current reference."""
        now = time.monotonic()
        if self._catalog and now - self._catalog[0] < self._ttl:
            return self._catalog[1]
        try:
            docs = await self.db[REFERENCES].find({}).to_list(None)
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        found = {doc["_id"]: doc["collection"] for doc in docs}
        self._catalog = (now, found)
        return found

    async def lookup(
        self, query: AlleleQuery | str, assembly: str
    ) -> tuple[float, dict[str, float]] | None:
        """(weight, allele key -> frequency) over the reference alleles the query (or one allele
        id) matches;
        None when no reference is loaded for `assembly` (the gate then answers nothing)."""
        collection = (await self.loaded()).get(assembly)
        if collection is None:
            return None
        key = (collection, query if isinstance(query, str) else query.canonical())
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        docs = await matching(self.db[collection], query, _FIELDS, has_long=True)
        frequencies = {allele_of(doc).key: float(doc["af"]) for doc in docs}
        found = (weight(frequencies.values()), frequencies)
        self._cache[key] = found
        if len(self._cache) > self._entries:
            self._cache.popitem(last=False)
        return found
