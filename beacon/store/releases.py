"""Writing one dataset release: lock, bulk insert, index, publish atomically, clean up.

A release is written into its own collection while the previous release keeps answering. Only
after every allele and the indexes are in place does one catalog update point the dataset at it.
An ingest killed half-way leaves an unpublished collection and a stale lock; the next ingest of
that dataset takes the lock over and drops such leftovers.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from beacon.errors import IngestError
from beacon.store.embedded import pid_alive
from beacon.store.mongo import CATALOG, INDEX_NAME, release_collection

log = logging.getLogger(__name__)

LOCKS = "ingest_locks"
DUPLICATE_KEY = 11000


class ReleaseWriter:
    """Writes release `release` of `dataset`; use `open()` first and `publish()` or `discard()`."""

    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        dataset: str,
        release: str,
        *,
        stale_after: float = 120.0,
    ) -> None:
        self.db = db
        self.dataset = dataset
        self.release = release
        self.collection = release_collection(dataset, release)
        self._stale_after = stale_after
        self._last_beat = 0.0

    async def open(self) -> None:
        """Take the dataset's ingest lock and drop leftovers of killed ingests."""
        await self._lock()
        await self._drop_leftovers()

    async def _lock(self) -> None:
        mine = {
            "_id": self.dataset,
            "owner": self.release,
            "heartbeat": time.time(),
            "pid": os.getpid(),
            "host": socket.gethostname(),
        }
        try:
            await self.db[LOCKS].insert_one(mine)
            return
        except DuplicateKeyError:
            held = await self.db[LOCKS].find_one({"_id": self.dataset})
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

    def _stale(self, held: dict[str, Any]) -> bool:
        """A lock is stale when its ingest died on this host, or stopped beating elsewhere."""
        if held.get("host") == socket.gethostname() and not pid_alive(int(held.get("pid", 0))):
            return True
        return time.time() - float(held.get("heartbeat", 0)) >= self._stale_after

    async def _drop_leftovers(self) -> None:
        current = await self.db[CATALOG].find_one({"_id": self.dataset})
        keep = {current.get("collection")} if current else set()
        prefix = release_collection(self.dataset, "")
        for name in await self.db.list_collection_names():
            if name.startswith(prefix) and name not in keep and name != self.collection:
                log.info("dropping leftover of an unfinished ingest", extra={"collection": name})
                await self.db.drop_collection(name)

    async def insert(self, docs: list[dict[str, Any]]) -> int:
        """Insert alleles; returns how many were duplicates of ones already written (kept first)."""
        unique: dict[str, dict[str, Any]] = {}
        for doc in docs:
            unique.setdefault(doc["_id"], doc)
        duplicates = len(docs) - len(unique)
        try:
            await self.db[self.collection].insert_many(list(unique.values()), ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(err.get("code") != DUPLICATE_KEY for err in errors):
                raise
            duplicates += len(errors)
        await self._heartbeat()
        return duplicates

    async def _heartbeat(self) -> None:
        now = time.time()
        if now - self._last_beat < 10:
            return
        self._last_beat = now
        result = await self.db[LOCKS].update_one(
            {"_id": self.dataset, "owner": self.release}, {"$set": {"heartbeat": now}}
        )
        if result.matched_count != 1:
            raise IngestError(f"lost the ingest lock of dataset {self.dataset!r} to another ingest")

    async def build_indexes(self) -> None:
        """Built after the bulk load: one pass instead of one index update per insert."""
        await self.db[self.collection].create_index(
            [("chrom", ASCENDING), ("long", ASCENDING), ("start", ASCENDING)], name=INDEX_NAME
        )

    async def publish(self, meta: dict[str, Any]) -> None:
        """Point the dataset at this release (one atomic update), then drop the old release."""
        previous = await self.db[CATALOG].find_one({"_id": self.dataset})
        now = datetime.now(UTC).isoformat(timespec="seconds")
        await self.db[CATALOG].update_one(
            {"_id": self.dataset},
            {
                "$set": {
                    **meta,
                    "release": self.release,
                    "collection": self.collection,
                    "updated": now,
                },
                "$setOnInsert": {"created": now},
            },
            upsert=True,
        )
        await self._unlock()
        if previous and previous.get("collection") not in (None, self.collection):
            await self.db.drop_collection(previous["collection"])

    async def discard(self) -> None:
        """Drop this unpublished release and give the lock back; the old release stays."""
        await self.db.drop_collection(self.collection)
        await self._unlock()

    async def _unlock(self) -> None:
        await self.db[LOCKS].delete_one({"_id": self.dataset, "owner": self.release})
