"""Loads one VCF into one dataset atomically: the old release answers until the new one is ready.

Parsing (CPU, in a worker thread) overlaps with inserting (waiting on the database), batch by
batch. Any failure, a malformed line or Ctrl-C included, discards the unfinished release.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from beacon.assemblies import canonical_assembly
from beacon.errors import IngestError, InvalidRequest
from beacon.ingest.progress import Progress
from beacon.ingest.vcf import ReadAllele, VcfReader
from beacon.store.releases import RETIRE_GRACE, ReleaseWriter

log = logging.getLogger(__name__)

DATASET_ID = re.compile(r"^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$")
BATCH = 5000


@dataclass(frozen=True)
class IngestSummary:
    dataset: str
    release: str
    records: int
    alleles: int
    samples: int
    seconds: float
    counts_source: str
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def alleles_per_second(self) -> float:
        return self.alleles / self.seconds if self.seconds else 0.0


def allele_document(item: ReadAllele) -> dict[str, Any]:
    """The stored form of one allele (field names kept short: there are millions of these)."""
    allele, counts = item.allele, item.counts
    doc: dict[str, Any] = {
        "_id": allele.key,
        "chrom": allele.chrom,
        "start": allele.start,
        "end": allele.end,
        "ref": allele.ref,
        "alt": allele.alt,
        "vt": allele.variant_type,
        "long": allele.long,
        "ac": counts.allele_count,
        "an": counts.allele_number,
    }
    if counts.carriers is not None:
        doc.update(
            nc=counts.carriers,
            hom=counts.homozygous,
            het=counts.heterozygous,
            hemi=counts.hemizygous,
            car=item.carriers,
        )
    if item.names:
        doc["ids"] = list(item.names)
    return doc


def check_dataset_id(dataset: str) -> str:
    if not DATASET_ID.match(dataset) or len(dataset) > 64:
        raise IngestError(
            f"dataset id {dataset!r}: use letters, digits and single . - _ "
            "between them (at most 64 characters)"
        )
    return dataset


def _batches(reader: VcfReader, size: int) -> Iterator[list[dict[str, Any]]]:
    items = iter(reader)
    while batch := [allele_document(item) for item in islice(items, size)]:
        yield batch


async def ingest_vcf(
    db: AsyncDatabase[dict[str, Any]],
    path: Path,
    *,
    dataset: str,
    assembly: str,
    name: str | None = None,
    description: str = "",
    progress: Progress | None = None,
    batch_size: int = BATCH,
    retire_grace: float = RETIRE_GRACE,
) -> IngestSummary:
    """Ingest `path` as the new release of `dataset`; raises IngestError, leaving data untouched."""
    check_dataset_id(dataset)
    try:
        assembly = canonical_assembly(assembly)
    except InvalidRequest as exc:
        raise IngestError(exc.message) from exc
    started = time.monotonic()
    reader = VcfReader(path, assembly)
    if progress is not None and progress.total is None:
        progress.total = reader.expected_records
    writer = ReleaseWriter(db, dataset, uuid.uuid4().hex[:12], retire_grace=retire_grace)
    await writer.open()
    try:
        meta = {"name": name or dataset, "description": description, "assembly": assembly}
        alleles, skipped, previous = await _write_release(
            reader, writer, progress, batch_size, meta
        )
        seconds = time.monotonic() - started  # published; the retirement wait is not ingest time
        if previous:
            if progress:
                progress.note(
                    f"published; the previous release stays readable for "
                    f"{retire_grace:.0f} s while queries finish"
                )
            await writer.retire(previous)
    except BaseException:
        await asyncio.shield(writer.discard())
        raise
    finally:
        if progress:
            progress.close()
    return IngestSummary(
        dataset,
        writer.release,
        reader.stats.records,
        alleles,
        reader.samples,
        seconds,
        reader.counts_source,
        skipped,
    )


async def _write_release(
    reader: VcfReader,
    writer: ReleaseWriter,
    progress: Progress | None,
    batch_size: int,
    meta: dict[str, Any],
) -> tuple[int, dict[str, int], str | None]:
    """Load, index and publish; returns the alleles stored, what was skipped (by reason) and
    the collection of the release this one replaced."""
    loaded = await _load(reader, writer, progress, batch_size)
    indexing = time.monotonic()
    await writer.build_indexes()
    log.info("indexes built", extra={"seconds": round(time.monotonic() - indexing, 1)})
    skipped = dict(reader.stats.skipped)
    if loaded.duplicates:
        skipped["duplicate allele (first record kept)"] = loaded.duplicates
    alleles = reader.stats.alleles - loaded.duplicates
    previous = await writer.publish({
        **meta, "samples": reader.samples, "alleles": alleles,
        "long_alleles": loaded.long_alleles, "records": reader.stats.records,
        "counts_source": reader.counts_source, "source_file": reader.path.name,
        "skipped": skipped,
    })  # fmt: skip
    return alleles, skipped, previous


@dataclass
class _Loaded:
    """What the load loop saw; the two waits tell whether parsing or the database is slower."""

    duplicates: int = 0
    long_alleles: int = 0
    waited_for_parse: float = 0.0
    waited_for_database: float = 0.0


async def _load(
    reader: VcfReader, writer: ReleaseWriter, progress: Progress | None, batch_size: int
) -> _Loaded:
    batches = _batches(reader, batch_size)
    loaded = _Loaded()
    pending = asyncio.create_task(asyncio.to_thread(next, batches, None))
    try:
        while True:
            mark = time.monotonic()
            batch = await pending
            loaded.waited_for_parse += time.monotonic() - mark
            if batch is None:
                break
            pending = asyncio.create_task(asyncio.to_thread(next, batches, None))
            mark = time.monotonic()
            loaded.duplicates += await writer.insert(batch)
            loaded.waited_for_database += time.monotonic() - mark
            loaded.long_alleles += sum(1 for doc in batch if doc["long"])
            if progress:
                progress.update(reader.stats.records, reader.stats.alleles)
    finally:
        if not pending.done():
            pending.cancel()
    if progress:
        progress.update(reader.stats.records, reader.stats.alleles, force=True)
    log.info(
        "alleles loaded",
        extra={
            "parse_wait": round(loaded.waited_for_parse, 1),
            "insert_wait": round(loaded.waited_for_database, 1),
        },
    )
    return loaded
