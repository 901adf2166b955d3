"""A release's life: published atomically, the one it replaces kept readable for a grace period,
never undone by a failure after publishing, never published without the lock."""

import asyncio
import time
from dataclasses import replace

import pytest
from aiohttp.test_utils import TestClient, TestServer

from beacon.errors import IngestError
from beacon.node.app import create_node_app
from beacon.store.releases import LOCKS, ReleaseWriter
from tests.conftest import CHR1

# 1:15274 A>G, a common allele of the chr1 slice (0-based start 15273).
KNOWN = {"referenceName": "1", "start": "15273", "referenceBases": "A", "alternateBases": "G"}


async def collections(db, dataset):
    return sorted(
        n for n in await db.list_collection_names() if n.startswith(f"variants__{dataset}__")
    )


async def test_replaced_release_stays_readable_for_the_grace_period(ingest, mongo, db_name):
    db = mongo[db_name]
    await ingest(CHR1, "kg")
    old = (await db["datasets"].find_one({"_id": "kg"}))["collection"]
    started = time.monotonic()
    task = asyncio.create_task(ingest(CHR1, "kg", retire_grace=2.0))
    for _ in range(400):
        entry = await db["datasets"].find_one({"_id": "kg"})
        if entry["collection"] != old:
            break
        await asyncio.sleep(0.05)
    assert entry["retired"]["collection"] == old
    assert await db[old].count_documents({}) == 1044
    await task
    assert time.monotonic() - started >= 2.0
    assert await collections(db, "kg") == [entry["collection"]]
    assert "retired" not in await db["datasets"].find_one({"_id": "kg"})


async def test_queries_during_a_reingest_never_miss(ingest, settings):
    """The node caches the catalog for 1 s; the replaced release outlives that cache."""
    await ingest(CHR1, "kg")
    client = TestClient(
        TestServer(
            create_node_app(replace(settings, catalog_ttl=1.0, cache_alleles=0)), host="127.0.0.1"
        )
    )
    await client.start_server()
    try:
        reingest = asyncio.create_task(ingest(CHR1, "kg", retire_grace=2.5))
        answers = []
        while not reingest.done() or len(answers) < 50:
            response = await client.get("/g_variants", params=KNOWN)
            answers.append((await response.json())["responseSummary"]["exists"])
        await reingest
        for _ in range(20):  # after the old release is gone, and the cache has expired
            response = await client.get("/g_variants", params=KNOWN)
            answers.append((await response.json())["responseSummary"]["exists"])
            await asyncio.sleep(0.1)
    finally:
        await client.close()
    assert answers.count(False) == 0


async def test_discard_after_publish_keeps_the_published_release(ingest, mongo, db_name):
    db = mongo[db_name]
    writer = ReleaseWriter(db, "kg", "r1", retire_grace=0)
    await writer.open()
    await writer.insert([{"_id": "1_99_A_G", "chrom": "1", "start": 99, "long": False}])
    await writer.build_indexes()
    await writer.publish({"assembly": "GRCh37"})
    await writer.discard()  # as after a failure or Ctrl-C once published
    entry = await db["datasets"].find_one({"_id": "kg"})
    assert entry["collection"] == "variants__kg__r1"
    assert await db["variants__kg__r1"].count_documents({}) == 1
    assert await db[LOCKS].count_documents({}) == 0


async def test_no_publishing_without_the_lock(mongo, db_name):
    db = mongo[db_name]
    writer = ReleaseWriter(db, "kg", "r2", retire_grace=0)
    await writer.open()
    await writer.insert([{"_id": "1_99_A_G", "chrom": "1", "start": 99, "long": False}])
    await db[LOCKS].delete_one({"_id": "kg"})  # another host took it over
    with pytest.raises(IngestError, match="lost the ingest lock of dataset 'kg'"):
        await writer.publish({"assembly": "GRCh37"})
    assert await db["datasets"].find_one({"_id": "kg"}) is None
    await writer.discard()
    assert await collections(db, "kg") == []
