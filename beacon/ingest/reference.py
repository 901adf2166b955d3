"""`beacon reference load`: a reference population's allele frequencies for the PUBLIC gate.

Written into a new collection, indexed, then published by one catalog update; the previous load
is dropped after the readers' catalog cache has moved on. A failed load publishes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from beacon.assemblies import canonical_assembly
from beacon.errors import InvalidRequest
from beacon.ingest.progress import Progress
from beacon.ingest.vcf import VcfReader
from beacon.store.mongo import INDEX_NAME
from beacon.store.reference import REFERENCES, reference_collection
from beacon.store.releases import insert_new

log = logging.getLogger(__name__)

SWAP_GRACE = 6.0
"""Seconds the previous load keeps answering: longer than the readers' 5 s catalog cache."""


@dataclass(frozen=True)
class ReferenceSummary:
    assembly: str
    alleles: int
    records: int
    skipped: dict[str, int]
    seconds: float


async def load_reference(
    db: AsyncDatabase[dict[str, Any]],
    path: Path,
    *,
    assembly: str,
    progress: Progress,
    batch_size: int = 5000,
    swap_grace: float = SWAP_GRACE,
) -> ReferenceSummary:
    """Replace the reference frequencies of `assembly` with INFO/AF (or AC/AN) of `path`.

    Raises IngestError (nothing published) on an unreadable file or line.
    """
    try:
        assembly = canonical_assembly(assembly)
    except InvalidRequest as exc:
        raise InvalidRequest(f"--assembly: {exc}") from None
    started = time.monotonic()
    reader = VcfReader(path, assembly)
    collection = reference_collection(assembly, f"{time.time_ns():x}")
    if progress.total is None:
        progress.total = reader.expected_records
    loaded = 0
    try:
        batch: list[dict[str, Any]] = []
        for allele, af in reader.frequencies():
            batch.append(
                {"_id": allele.key, "chrom": allele.chrom, "start": allele.start,
                 "end": allele.end, "ref": allele.ref, "alt": allele.alt,
                 "vt": allele.variant_type, "long": allele.long, "af": af}
            )  # fmt: skip
            if len(batch) >= batch_size:
                loaded += len(batch) - await insert_new(db[collection], batch)
                progress.update(reader.stats.records, reader.stats.alleles)
                batch = []
        if batch:
            loaded += len(batch) - await insert_new(db[collection], batch)
        await db[collection].create_index(
            [("chrom", ASCENDING), ("long", ASCENDING), ("start", ASCENDING)], name=INDEX_NAME
        )
    except BaseException:
        await db.drop_collection(collection)
        raise
    finally:
        progress.update(reader.stats.records, reader.stats.alleles, force=True)
        progress.close()
    previous = await db[REFERENCES].find_one_and_update(
        {"_id": assembly},
        {"$set": {"collection": collection, "alleles": loaded, "source": path.name}},
        upsert=True,
    )
    if previous and previous.get("collection") not in (None, collection):
        await asyncio.sleep(swap_grace)
        await db.drop_collection(previous["collection"])
    return ReferenceSummary(
        assembly,
        loaded,
        reader.stats.records,
        dict(reader.stats.skipped),
        time.monotonic() - started,
    )
