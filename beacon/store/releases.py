"""Writing one dataset release: lock, bulk insert, index, publish atomically, clean up.

A release is written into its own collection while the previous release keeps answering. Only
after every allele and the indexes are in place does one catalog update point the dataset at it.
The previous release is then retired, not dropped: nodes read the catalog through a short cache
(the config allows at most 5 s) and queries may be in flight, so it is dropped only after
`retire_grace` seconds. An ingest killed half-way leaves an unpublished collection and a stale
lock; the next ingest of that dataset takes the lock over and drops such leftovers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError

from beacon.errors import IngestError
from beacon.store.embedded import pid_alive
from beacon.store.mongo import CATALOG, INDEX_NAME, release_collection

log = logging.getLogger(__name__)

LOCKS = "ingest_locks"
RETIRE_GRACE = 10.0
"""Seconds a replaced release keeps answering; must exceed the node's catalog cache lifetime."""
HEARTBEAT = 10.0
DUPLICATE_KEY = 11000


async def insert_new(
    collection: AsyncCollection[dict[str, Any]], docs: list[dict[str, Any]]
) -> int:
    """Insert documents whose `_id` is not there yet (the first of a batch wins, then the one
    already stored); returns how many were such duplicates. Other write errors are raised."""
    unique: dict[str, dict[str, Any]] = {}
    for doc in docs:
        unique.setdefault(doc["_id"], doc)
    duplicates = len(docs) - len(unique)
    try:
        await collection.insert_many(list(unique.values()), ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(err.get("code") != DUPLICATE_KEY for err in errors):
            raise
        duplicates += len(errors)
    return duplicates


class ReleaseWriter:
    """Writes release `release` of `dataset`; `open()` first, then `publish()` or `discard()`."""

    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        dataset: str,
        release: str,
        *,
        stale_after: float = 120.0,
        retire_grace: float = RETIRE_GRACE,
    ) -> None:
        self.db = db
        self.dataset = dataset
        self.release = release
        self.collection = release_collection(dataset, release)
        self._stale_after = stale_after
        self._retire_grace = retire_grace
        self._beat: asyncio.Task[None] | None = None
        self._lost = False
        self._published = False

    async def open(self) -> None:
        """Take the dataset's ingest lock, keep it alive, and drop leftovers of killed ingests."""
        for attempt in range(3):
            if await self._lock(last=attempt == 2):
                break
        self._beat = asyncio.create_task(self._keep_lock())
        await self._drop_leftovers()

    async def _lock(self, *, last: bool) -> bool:
        """True when taken; False when the holder just left (try again)."""
        mine = {"_id": self.dataset, "owner": self.release, "heartbeat": time.time(),
                "pid": os.getpid(), "host": socket.gethostname()}  # fmt: skip
        try:
            await self.db[LOCKS].insert_one(mine)
            return True
        except DuplicateKeyError:
            held = await self.db[LOCKS].find_one({"_id": self.dataset})
        if held is None and not last:
            return False
        if held and not self._stale(held):
            raise IngestError(
                f"another ingest of dataset {self.dataset!r} is running "
                f"(pid {held.get('pid')} on {held.get('host')}); wait for it"
            )
        owner = held.get("owner") if held else None
        taken = await self.db[LOCKS].replace_one({"_id": self.dataset, "owner": owner}, mine)
        if taken.modified_count != 1:
            raise IngestError(f"another ingest of dataset {self.dataset!r} just started")
        log.warning("took over the stale ingest lock", extra={"dataset": self.dataset})
        return True

    def _stale(self, held: dict[str, Any]) -> bool:
        """A lock is stale when its ingest died on this host, or stopped beating elsewhere."""
        if held.get("host") == socket.gethostname() and not pid_alive(int(held.get("pid", 0))):
            return True
        return time.time() - float(held.get("heartbeat", 0)) >= self._stale_after

    async def _keep_lock(self) -> None:
        """Beat for the whole ingest (bulk load, index build, publish), not only between inserts."""
        while True:
            await asyncio.sleep(HEARTBEAT)
            result = await self.db[LOCKS].update_one(
                {"_id": self.dataset, "owner": self.release}, {"$set": {"heartbeat": time.time()}}
            )
            if result.matched_count != 1:
                self._lost = True
                return

    def _check_lock(self) -> None:
        if self._lost:
            raise IngestError(f"lost the ingest lock of dataset {self.dataset!r} to another ingest")

    async def _drop_leftovers(self) -> None:
        current = await self.db[CATALOG].find_one({"_id": self.dataset}) or {}
        keep = {current.get("collection"), self.collection}
        retired = current.get("retired") or {}
        if time.time() - float(retired.get("at", 0)) < self._retire_grace:
            keep.add(retired.get("collection"))
        prefix = release_collection(self.dataset, "")
        for name in await self.db.list_collection_names():
            if name.startswith(prefix) and name not in keep:
                log.info("dropping leftover release", extra={"collection": name})
                await self.db.drop_collection(name)

    async def insert(self, docs: list[dict[str, Any]]) -> int:
        """Insert alleles; returns how many were duplicates of ones already written (kept first)."""
        self._check_lock()
        return await insert_new(self.db[self.collection], docs)

    async def build_indexes(self) -> None:
        """Built after the bulk load: one pass instead of one index update per insert."""
        await self.db[self.collection].create_index(
            [("chrom", ASCENDING), ("long", ASCENDING), ("start", ASCENDING)], name=INDEX_NAME
        )

    async def publish(self, meta: dict[str, Any]) -> str | None:
        """Point the dataset at this release (one atomic update); returns the replaced release's
        collection, to pass to `retire()`.

        Raises IngestError, publishing nothing, if the lock was lost. Once published, nothing
        that fails afterwards (unlocking, dropping the old release) undoes it: it is logged and
        the next ingest cleans up.
        """
        self._check_lock()
        if await self.db[LOCKS].find_one({"_id": self.dataset, "owner": self.release}) is None:
            raise IngestError(f"lost the ingest lock of dataset {self.dataset!r} to another ingest")
        previous = (await self.db[CATALOG].find_one({"_id": self.dataset}) or {}).get("collection")
        now = datetime.now(UTC).isoformat(timespec="seconds")
        retiring = {"retired": {"collection": previous, "at": time.time()}} if previous else {}
        await self.db[CATALOG].update_one(
            {"_id": self.dataset},
            {"$set": {**meta, **retiring, "release": self.release, "collection": self.collection,
                      "updated": now},
             "$setOnInsert": {"created": now}},
            upsert=True,
        )  # fmt: skip
        self._published = True
        await self._release_lock()
        return previous if previous != self.collection else None

    async def retire(self, previous: str) -> None:
        """Drop the replaced release once queries that may still read it are done."""
        await asyncio.sleep(self._retire_grace)
        try:
            await self.db.drop_collection(previous)
            await self.db[CATALOG].update_one(
                {"_id": self.dataset, "retired.collection": previous}, {"$unset": {"retired": ""}}
            )
        except PyMongoError as exc:
            log.warning("could not drop the previous release; the next ingest will: %s", exc)

    async def discard(self) -> None:
        """Drop this release unless it was published, and give the lock back."""
        if not self._published:
            await self.db.drop_collection(self.collection)
        await self._release_lock()

    async def _release_lock(self) -> None:
        if self._beat is not None:
            self._beat.cancel()
            self._beat = None
        try:
            await self.db[LOCKS].delete_one({"_id": self.dataset, "owner": self.release})
        except PyMongoError as exc:
            log.warning("could not release the ingest lock; it goes stale by itself: %s", exc)
