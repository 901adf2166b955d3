"""What the store finds and what its result cache keeps."""

from beacon.query import parse_query
from beacon.store.mongo import MongoStore, _Lru
from tests.conftest import CHR1


def docs(n):
    return [{"_id": str(i)} for i in range(n)]


def test_cache_is_bounded_by_alleles_held_not_entries():
    cache = _Lru(max_alleles=10)
    cache.put(("r", "a", False), (docs(4), None))
    cache.put(("r", "b", False), (docs(4), None))
    cache.put(("r", "c", False), (docs(4), None))  # 12 > 10: the oldest goes
    assert cache.get(("r", "a", False)) is None
    assert [len(cache.get(("r", k, False))[0]) for k in "bc"] == [4, 4]
    cache.put(("r", "huge", False), (docs(11), None))  # larger than the whole cache: not kept
    assert cache.get(("r", "huge", False)) is None
    cache.put(("r", "none", False), ([], None))  # a miss weighs one
    assert cache.get(("r", "none", False)) == ([], None)


async def test_alleles_nobody_carries_are_not_found(ingest, mongo, db_name):
    """1:61170 C>T (rs561734461) has a record in the chr1 slice but AC=0 (data README)."""
    await ingest(CHR1, "kg")
    store = MongoStore(mongo, db_name, catalog_ttl=0)
    datasets = await store.datasets()
    absent = parse_query({"referenceName": "1", "start": [61169], "referenceBases": "C",
                          "alternateBases": "T"}, max_span=10**6)  # fmt: skip
    [hits] = await store.search(absent, datasets, skip=0, limit=10, individuals=True)
    assert (hits.total, hits.individuals) == (0, 0)
    [by_id] = await store.variant(absent.exact_key or "", datasets)
    assert by_id.total == 0
    around = parse_query({"referenceName": "1", "start": [61100], "end": [61300]}, max_span=10**6)
    [hits] = await store.search(around, datasets, skip=0, limit=100, individuals=False)
    assert "1_61169_C_T" not in [h.allele.key for h in hits.page]


async def test_carrier_sets_are_not_kept_in_the_cache(ingest, mongo, db_name):
    await ingest(CHR1, "kg")
    store = MongoStore(mongo, db_name, catalog_ttl=0)
    datasets = await store.datasets()
    wide = parse_query({"referenceName": "1", "start": [10000], "end": [20000]}, max_span=10**6)
    [first] = await store.search(wide, datasets, skip=0, limit=5, individuals=True)
    [again] = await store.search(wide, datasets, skip=0, limit=5, individuals=True)
    assert (again.total, again.individuals) == (first.total, first.individuals)
    assert first.individuals > 0
    cached = [doc for entry in store._cache._items.values() for doc in entry[0]]
    assert len(cached) == first.total
    assert not any("car" in doc for doc in cached)
