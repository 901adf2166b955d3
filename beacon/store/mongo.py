"""VariantStore over MongoDB (PyMongo's async API); the same code serves SecantusDB.

Layout: a `datasets` catalog (one document per dataset, pointing at its published release) and one
collection per release, `variants__<dataset>__<release>`, holding one document per normalised
allele with `_id` = Allele.key. Publishing a release is one single-document update of the catalog,
so readers see either the old release or the new one, never a mix.

Every filter is flat (equality plus one range) so that SecantusDB, which does not plan `$or` or
`$and` with indexes, uses the `chrom_long_start` index; `explain()` tests check that.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from beacon import carriers
from beacon.errors import StoreUnavailable
from beacon.query import LONG_VARIANT, Allele, AlleleQuery, QueryKind
from beacon.results import AlleleCounts, Carried, DatasetHits, DatasetInfo, VariantHit

log = logging.getLogger(__name__)

CATALOG = "datasets"
INDEX_NAME = "chrom_long_start"
_CORE_FIELDS = {"chrom": 1, "start": 1, "end": 1, "ref": 1, "alt": 1, "vt": 1}
_COUNT_FIELDS = {"ac": 1, "an": 1, "nc": 1, "hom": 1, "het": 1, "hemi": 1, "ids": 1}

Doc = dict[str, Any]


def _unavailable(exc: PyMongoError) -> StoreUnavailable:
    """The client sees a plain 503; the operator's log gets the driver's reason."""
    log.warning("database error: %s", exc)
    return StoreUnavailable("the variant database does not answer")


def release_collection(dataset: str, release: str) -> str:
    return f"variants__{dataset}__{release}"


def allele_of(doc: Doc) -> Allele:
    return Allele(doc["chrom"], doc["start"], doc["end"], doc["ref"], doc["alt"], doc["vt"])


def hit_of(doc: Doc) -> VariantHit:
    counts = AlleleCounts(
        doc["ac"], doc["an"], doc.get("nc"), doc.get("hom"), doc.get("het"), doc.get("hemi")
    )
    return VariantHit(allele_of(doc), counts, tuple(doc.get("ids") or ()))


def dataset_of(doc: Doc) -> DatasetInfo:
    return DatasetInfo(
        id=doc["_id"],
        name=doc.get("name") or doc["_id"],
        assembly=doc["assembly"],
        release=doc["release"],
        collection=doc["collection"],
        samples=doc["samples"],
        alleles=doc["alleles"],
        counts_source=doc["counts_source"],
        long_alleles=doc.get("long_alleles"),
        description=doc.get("description", ""),
        created=doc.get("created", ""),
        updated=doc.get("updated", ""),
    )


def query_filters(query: AlleleQuery, has_long: bool = True) -> list[dict[str, Any]]:
    """Flat index-friendly filters whose union holds every allele the query can match.

    They over-select; `AlleleQuery.matches` decides. Short alleles are found by a start window
    (an overlapping short allele starts at most LONG_VARIANT bases before the range), long ones by
    a scan of the chromosome's few long alleles, skipped when the release has none.
    """
    chrom = query.chrom
    if query.kind is QueryKind.SEQUENCE:
        return [{"chrom": chrom, "long": False, "start": {"$gte": query.start, "$lte": query.end}}]
    if query.kind is QueryKind.BRACKET:
        window = {"$gte": query.start, "$lt": query.start_max}
        found = [{"chrom": chrom, "long": False, "start": window}]
        long = {"chrom": chrom, "long": True, "start": window}
    else:
        short_from = max(0, query.start - LONG_VARIANT)
        found = [{"chrom": chrom, "long": False, "start": {"$gte": short_from, "$lt": query.end}}]
        long = {"chrom": chrom, "long": True, "start": {"$lt": query.end}}
    return [*found, long] if has_long else found


async def matching(
    collection: AsyncCollection[Doc],
    query: AlleleQuery | str,
    projection: Doc,
    *,
    has_long: bool,
) -> list[Doc]:
    """The documents of alleles a query (or one allele id) matches, in position order: one point
    lookup for an exact allele, else the flat filters of `query_filters` narrowed by
    `AlleleQuery.matches`."""
    if isinstance(query, str):
        try:
            doc = await collection.find_one({"_id": query}, projection)
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        return [doc] if doc else []
    try:
        exact = query.exact_key
        if exact is not None:
            doc = await collection.find_one({"_id": exact}, projection)
            docs = [doc] if doc else []
        else:
            docs = []
            for flt in query_filters(query, has_long):
                docs.extend(await collection.find(flt, projection).to_list(None))
    except PyMongoError as exc:
        raise _unavailable(exc) from exc
    docs = [doc for doc in docs if query.matches(allele_of(doc))]
    docs.sort(key=lambda d: (d["start"], d["end"], d["ref"], d["alt"]))
    return docs


class _Lru:
    """Search results by (release, query), bounded by the alleles held, not by entries: one wide
    range can hold hundreds. Keys include the release, so an entry never goes stale."""

    def __init__(self, max_alleles: int) -> None:
        self._max = max_alleles
        self._held = 0
        self._items: OrderedDict[tuple[str, str, bool], tuple[list[Doc], int | None]] = (
            OrderedDict()
        )

    def get(self, key: tuple[str, str, bool]) -> tuple[list[Doc], int | None] | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: tuple[str, str, bool], value: tuple[list[Doc], int | None]) -> None:
        weight = max(len(value[0]), 1)
        if weight > self._max or key in self._items:
            return
        self._items[key] = value
        self._held += weight
        while self._held > self._max:
            _, dropped = self._items.popitem(last=False)
            self._held -= max(len(dropped[0]), 1)


class MongoStore:
    """Reads datasets and variants; the catalog is cached for `catalog_ttl` seconds."""

    def __init__(
        self,
        client: AsyncMongoClient[dict[str, Any]],
        db_name: str,
        *,
        catalog_ttl: float = 1.0,
        cache_alleles: int = 50_000,
    ) -> None:
        self.client = client
        self.db: AsyncDatabase[dict[str, Any]] = client[db_name]
        self._catalog_ttl = catalog_ttl
        self._catalog: tuple[float, list[DatasetInfo]] | None = None
        self._cache = _Lru(cache_alleles)

    async def ping(self) -> None:
        try:
            await self.db.command("ping")
        except PyMongoError as exc:
            raise _unavailable(exc) from exc

    async def datasets(self) -> list[DatasetInfo]:
        now = time.monotonic()
        if self._catalog and now - self._catalog[0] < self._catalog_ttl:
            return self._catalog[1]
        try:
            docs = await self.db[CATALOG].find({"release": {"$exists": True}}).to_list(None)
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        found = sorted((dataset_of(doc) for doc in docs), key=lambda d: d.id)
        self._catalog = (now, found)
        return found

    async def search(
        self,
        query: AlleleQuery,
        datasets: list[DatasetInfo],
        *,
        skip: int,
        limit: int,
        individuals: bool,
    ) -> list[DatasetHits]:
        canonical = query.canonical()  # once per request, not once per dataset
        searches = (
            self._search_one(query, canonical, ds, skip, limit, individuals) for ds in datasets
        )
        return list(await asyncio.gather(*searches))

    async def _search_one(
        self,
        query: AlleleQuery,
        canonical: str,
        ds: DatasetInfo,
        skip: int,
        limit: int,
        individuals: bool,
    ) -> DatasetHits:
        key = (ds.release, canonical, individuals)
        cached = self._cache.get(key)
        if cached is None:
            cached = await self._fetch(query, ds, individuals)
            self._cache.put(key, cached)
        docs, carrier_count = cached
        page = tuple(hit_of(doc) for doc in docs[skip : skip + limit]) if limit else ()
        return DatasetHits(ds, len(docs), page, carrier_count)

    async def _fetch(
        self, query: AlleleQuery, ds: DatasetInfo, individuals: bool
    ) -> tuple[list[Doc], int | None]:
        projection = {**_CORE_FIELDS, **_COUNT_FIELDS}
        if individuals:
            projection["car"] = 1
        docs = await matching(
            self.db[ds.collection], query, projection, has_long=ds.long_alleles != 0
        )
        docs = [doc for doc in docs if doc["ac"] > 0]
        if not individuals or ds.counts_source != "genotypes":
            return docs, None
        blobs = [doc.pop("car") for doc in docs if doc.get("car")]  # never kept in the cache
        return docs, carriers.union_count(blobs, ds.samples)

    async def carriers(self, query: AlleleQuery | str, ds: DatasetInfo) -> Carried:
        """The alleles a query matches in one dataset with their own counts, and the indexes of
        the samples carrying any of them (empty without genotypes). Not cached: carrier sets are
        read only for answers a budget must pay for."""
        projection = {**_CORE_FIELDS, "ac": 1, "an": 1, "car": 1}
        docs = await matching(
            self.db[ds.collection], query, projection, has_long=ds.long_alleles != 0
        )
        docs = [doc for doc in docs if doc["ac"] > 0]
        blobs = [doc["car"] for doc in docs if doc.get("car")]
        return Carried(
            tuple((allele_of(doc).key, doc["ac"], doc["an"]) for doc in docs),
            carriers.indexes(blobs, ds.samples) if blobs else (),
        )

    async def variant(self, key: str, datasets: list[DatasetInfo]) -> list[DatasetHits]:
        found = []
        for ds in datasets:
            try:
                doc = await self.db[ds.collection].find_one({"_id": key}, {"car": 0})
            except PyMongoError as exc:
                raise _unavailable(exc) from exc
            page = (hit_of(doc),) if doc and doc["ac"] > 0 else ()
            found.append(DatasetHits(ds, len(page), page))
        return found
