"""Ingest into the real database: atomic release swaps, failures that leave data untouched,
and the VCF shapes a beacon meets (multi-allelic, haploid, half-missing, symbolic, sites-only)."""

from __future__ import annotations

import asyncio
import gzip
import logging
import re
import signal
import struct
import time
from pathlib import Path
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from beacon import carriers
from beacon.errors import IngestError
from beacon.ingest.bgzf import BLOCK_PAYLOAD, EOF_BLOCK, BgzfWriter
from beacon.results import AlleleCounts
from beacon.store.mongo import MongoStore
from beacon.store.releases import LOCKS
from tests.conftest import CHR1, MT, write_vcf
from tests.ingest.conftest import BIG_RECORDS

Db = AsyncDatabase[dict[str, Any]]

DUPLICATE = "duplicate allele (first record kept)"
# AC 3, AN 8, 2 carriers: one homozygous, one heterozygous.
KNOWN_ROW = "1 100 rs1 A G . PASS . GT 0/1 0/0 1/1 0/0"
KNOWN_KEY = "1_99_A_G"
KNOWN_COUNTS = (3, 8, 2, 1, 1, 0)


def counts(doc: dict[str, Any]) -> tuple[int | None, ...]:
    """(ac, an, carriers, hom, het, hemi) of a stored allele; None where not stored."""
    return tuple(doc.get(name) for name in ("ac", "an", "nc", "hom", "het", "hemi"))


async def published(db: Db, dataset: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The catalog entry of `dataset` and every allele document of its release, by id."""
    entry = await db["datasets"].find_one({"_id": dataset})
    assert entry is not None, f"dataset {dataset!r} is not published"
    docs = await db[entry["collection"]].find({}).to_list(None)
    return entry, {doc["_id"]: doc for doc in docs}


async def release_collections(db: Db, dataset: str) -> list[str]:
    prefix = f"variants__{dataset}__"
    return sorted(name for name in await db.list_collection_names() if name.startswith(prefix))


async def unpublished_with_documents(
    db: Db, dataset: str, proc: asyncio.subprocess.Process, keep: str | None = None
) -> str:
    """Wait until the running ingest has written alleles into its new release collection."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.returncode is None, "the ingest ended before it could be interrupted"
        for name in await release_collections(db, dataset):
            if name != keep and await db[name].find_one({}) is not None:
                return name
        await asyncio.sleep(0.02)
    raise AssertionError("the ingest wrote nothing within 60 s")


async def assert_untouched(db: Db, dataset: str, before: Any) -> None:
    """A failed ingest left the published release as it was, and nothing of its own behind."""
    assert await published(db, dataset) == before
    assert await release_collections(db, dataset) == [before[0]["collection"]]
    assert await db[LOCKS].count_documents({}) == 0


def bgzip(text: bytes, path: Path) -> Path:
    with BgzfWriter(path) as writer:
        writer.write(text)
    return path


def block_offsets(data: bytes) -> list[int]:
    """Where each BGZF block starts (BSIZE, the block size minus one, is at byte 16)."""
    offsets, at = [], 0
    while at < len(data):
        offsets.append(at)
        at += struct.unpack_from("<H", data, at + 16)[0] + 1
    return offsets


def line_of(path: Path, row: str) -> int:
    """1-based line number of a `write_vcf` row in the written file."""
    return path.read_text().splitlines().index(row.replace(" ", "\t")) + 1


async def test_reingest_replaces_dataset(mongo, db_name, ingest, tmp_path):
    db = mongo[db_name]
    first = write_vcf(tmp_path / "a.vcf", [KNOWN_ROW, "1 200 . C T . PASS . GT 0/0 0/0 0/1 0/0"])
    second = write_vcf(tmp_path / "b.vcf", ["1 300 . G A . PASS . GT 1/1 1/1 0/1 0/0"])

    old = await ingest(first, "ds")
    old_entry, old_docs = await published(db, "ds")
    assert sorted(old_docs) == ["1_199_C_T", KNOWN_KEY]

    new = await ingest(second, "ds")
    entry, docs = await published(db, "ds")

    assert new.release != old.release
    assert (entry["release"], entry["collection"]) == (new.release, f"variants__ds__{new.release}")
    assert {key: counts(doc) for key, doc in docs.items()} == {"1_299_G_A": (5, 8, 3, 2, 1, 0)}
    assert (entry["records"], entry["alleles"], entry["source_file"]) == (1, 1, "b.vcf")
    assert entry["created"] == old_entry["created"]
    assert await release_collections(db, "ds") == [entry["collection"]]
    store = MongoStore(mongo, db_name, catalog_ttl=0)
    datasets = await store.datasets()
    assert [ds.release for ds in datasets] == [new.release]
    assert [hits.total for hits in await store.variant(KNOWN_KEY, datasets)] == [0]


async def test_same_ingest_twice_gives_identical_alleles(mongo, db_name, ingest):
    db = mongo[db_name]
    once = await ingest(CHR1, "ds")
    entry_once, docs_once = await published(db, "ds")
    twice = await ingest(CHR1, "ds")
    entry_twice, docs_twice = await published(db, "ds")

    assert once.release != twice.release
    assert (twice.records, twice.alleles, twice.samples) == (1042, 1044, 2504)
    assert (once.records, once.alleles, once.samples) == (1042, 1044, 2504)
    assert docs_twice == docs_once
    moving = {"release", "collection", "updated"}
    assert {k: v for k, v in entry_twice.items() if k not in moving} == {
        k: v for k, v in entry_once.items() if k not in moving
    }


async def test_killed_ingest_leaves_previous_release_and_next_ingest_recovers(
    mongo, db_name, ingest, start_ingest, big_vcf, tmp_path, caplog
):
    db = mongo[db_name]
    previous = await ingest(write_vcf(tmp_path / "small.vcf", [KNOWN_ROW]), "ds")
    before = await published(db, "ds")

    running = await start_ingest(big_vcf, "ds", "--batch-size", "200")
    partial = await unpublished_with_documents(db, "ds", running.proc, keep=before[0]["collection"])
    running.proc.send_signal(signal.SIGKILL)
    assert await running.proc.wait() == -signal.SIGKILL

    lock = await db[LOCKS].find_one({"_id": "ds"})
    assert lock is not None and lock["pid"] == running.proc.pid
    assert await release_collections(db, "ds") == sorted([before[0]["collection"], partial])
    assert 0 < await db[partial].count_documents({}) < BIG_RECORDS
    assert await published(db, "ds") == before
    store = MongoStore(mongo, db_name, catalog_ttl=0)
    datasets = await store.datasets()
    assert [ds.release for ds in datasets] == [previous.release]
    [hits] = await store.variant(KNOWN_KEY, datasets)
    assert [hit.counts for hit in hits.page] == [AlleleCounts(*KNOWN_COUNTS)]

    with caplog.at_level(logging.WARNING, logger="beacon.store.releases"):
        after = await ingest(
            write_vcf(tmp_path / "next.vcf", ["1 5 . T C . PASS . GT 0/1 0/1 0/0 0/0"]), "ds"
        )

    assert "took over the stale ingest lock" in caplog.messages
    entry, docs = await published(db, "ds")
    assert entry["release"] == after.release
    assert {key: counts(doc) for key, doc in docs.items()} == {"1_4_T_C": (2, 8, 2, 0, 2, 0)}
    assert await release_collections(db, "ds") == [entry["collection"]]
    assert await db[LOCKS].count_documents({}) == 0


async def test_second_ingest_of_a_dataset_is_refused_while_the_first_runs(
    mongo, db_name, ingest, start_ingest, big_vcf, tmp_path
):
    db = mongo[db_name]
    running = await start_ingest(big_vcf, "ds")
    partial = await unpublished_with_documents(db, "ds", running.proc)

    refused = re.escape(f"another ingest of dataset 'ds' is running (pid {running.proc.pid} on ")
    with pytest.raises(IngestError, match=refused):
        await ingest(write_vcf(tmp_path / "small.vcf", [KNOWN_ROW]), "ds")
    assert await release_collections(db, "ds") == [partial]

    assert await running.proc.wait() == 0
    entry, docs = await published(db, "ds")
    assert (entry["collection"], len(docs)) == (partial, BIG_RECORDS)
    assert await db[LOCKS].count_documents({}) == 0


GOOD_ROWS = [f"1 {pos} . C T . PASS . GT 0/1 0/0 0/0 0/0" for pos in (201, 202, 203)]
LAST_ROW = "1 300 . G A . PASS . GT 0/0 0/0 0/0 0/1"


@pytest.mark.parametrize(
    ("bad_row", "problem"),
    [
        pytest.param(
            "1 2x4 . C T . PASS . GT 0/1 0/0 0/0 0/0",
            "htslib could not parse",
            id="pos-not-a-number",
        ),
        pytest.param(
            "1 -4 . C T . PASS . GT 0/1 0/0 0/0 0/0", "htslib could not parse", id="pos-negative"
        ),
        pytest.param(
            "1 0 . C T . PASS . GT 0/1 0/0 0/0 0/0", "POS must be 1 or more", id="pos-zero"
        ),
        pytest.param(
            "1 204 . C T . PASS . GT 0/1 0/0 0/0", "htslib could not parse", id="too-few-samples"
        ),
        pytest.param("1 204 . C T . PASS .", "unreadable genotypes", id="no-sample-columns"),
        pytest.param(
            "1 204 . C T . PASS . GT 0/1 x/y 0/0 0/0", "htslib could not parse", id="gt-garbage"
        ),
        pytest.param(
            "1 204 . C T . PASS . GT 0/1 0/3 0/0 0/0",
            "GT refers to allele 3 but the record has 1 ALT",
            id="gt-unknown-allele",
        ),
        pytest.param(
            "1 204 . CXZ T . PASS . GT 0/1 0/0 0/0 0/0", "REF 'CXZ' is not DNA", id="ref-not-dna"
        ),
        pytest.param(
            "1 204 . C T,Q . PASS . GT 0/1 0/0 0/0 0/0", "ALT 'Q' is not DNA", id="alt-not-dna"
        ),
    ],
)
async def test_malformed_line_raises_and_leaves_dataset_untouched(
    mongo, db_name, ingest, tmp_path, bad_row, problem
):
    db = mongo[db_name]
    await ingest(write_vcf(tmp_path / "good.vcf", [KNOWN_ROW]), "ds")
    before = await published(db, "ds")
    bad = write_vcf(tmp_path / "bad.vcf", [*GOOD_ROWS, bad_row, LAST_ROW])

    with pytest.raises(IngestError) as caught:
        await ingest(bad, "ds", batch_size=2)

    assert str(caught.value).startswith(f"{bad}: line {line_of(bad, bad_row)}: {problem}")
    await assert_untouched(db, "ds", before)


def truncated_bgzf(tmp_path: Path, cut: str) -> tuple[Path, int]:
    """A BGZF VCF cut short, and the 1-based line where its records stop being readable.

    htslib inflates whole blocks, so the first line not wholly inside the intact blocks fails.
    """
    rows = [f"1 {1000 + i} . C T . PASS . GT 0/1 0/0 1/1 0/0" for i in range(8000)]
    text = write_vcf(tmp_path / "full.vcf", rows).read_bytes()
    data = bgzip(text, tmp_path / "full.vcf.gz").read_bytes()
    blocks = 3
    intact = text[: blocks * BLOCK_PAYLOAD]
    assert intact.rsplit(b"\n", 1)[1] == b"1\t5760", "the third block must end inside a record"
    path = tmp_path / "truncated.vcf.gz"
    if cut == "mid-block":
        path.write_bytes(data[: block_offsets(data)[blocks] + 100])
    elif cut == "block-boundary":
        path.write_bytes(data[: block_offsets(data)[blocks]])
    else:  # whole lines in whole blocks, only the end-of-file block missing
        intact = intact[: intact.rindex(b"\n") + 1]
        path.write_bytes(bgzip(intact, tmp_path / "cut.vcf.gz").read_bytes()[: -len(EOF_BLOCK)])
    return path, intact.count(b"\n") + 1


@pytest.mark.parametrize(
    ("cut", "problem"),
    [
        pytest.param("mid-block", "htslib could not parse this record", id="mid-block"),
        pytest.param("block-boundary", "htslib could not parse this record", id="block-boundary"),
        pytest.param("line-end", "the file ends without the BGZF end-of-file", id="line-end"),
    ],
)
async def test_truncated_gzip_raises_with_line_and_leaves_dataset_untouched(
    mongo, db_name, ingest, tmp_path, cut, problem
):
    db = mongo[db_name]
    await ingest(write_vcf(tmp_path / "good.vcf", [KNOWN_ROW]), "ds")
    before = await published(db, "ds")
    truncated, line = truncated_bgzf(tmp_path, cut)

    with pytest.raises(IngestError) as caught:
        await ingest(truncated, "ds", batch_size=500)

    assert str(caught.value).startswith(f"{truncated}: line {line}: {problem}")
    await assert_untouched(db, "ds", before)


async def test_sites_only_vcf_counts_from_info(mongo, db_name, ingest, tmp_path):
    db = mongo[db_name]
    rows = ["1 100 rs1 A G,T . PASS AC=3,1;AN=10", "1 200 . C T . PASS AC=0;AN=10"]
    summary = await ingest(write_vcf(tmp_path / "sites.vcf", rows, samples=[]), "sites")
    entry, docs = await published(db, "sites")

    assert (summary.counts_source, summary.samples, summary.alleles) == ("INFO", 0, 3)
    assert (entry["counts_source"], entry["samples"]) == ("INFO", 0)
    assert {key: counts(doc) for key, doc in docs.items()} == {
        "1_99_A_G": (3, 10, None, None, None, None),
        "1_99_A_T": (1, 10, None, None, None, None),
        "1_199_C_T": (0, 10, None, None, None, None),
    }
    assert all("car" not in doc for doc in docs.values())
    assert docs["1_99_A_T"]["ids"] == ["rs1"]


async def test_sites_only_record_without_an_is_an_error(mongo, db_name, ingest, tmp_path):
    row = "1 200 . C T . PASS AC=1"
    path = write_vcf(tmp_path / "sites.vcf", ["1 100 . A G . PASS AC=3;AN=10", row], samples=[])
    with pytest.raises(IngestError, match=re.escape(f"{path}: line {line_of(path, row)}: ")):
        await ingest(path, "sites")
    assert await release_collections(mongo[db_name], "sites") == []


async def test_multiallelic_site_is_split_per_alt(mongo, db_name, ingest, tmp_path):
    row = "1 100 . A G,T . PASS . GT 1|2 0|1 2|2 0|0"
    await ingest(write_vcf(tmp_path / "multi.vcf", [row]), "ds")
    _, docs = await published(mongo[db_name], "ds")

    assert {key: counts(doc) for key, doc in docs.items()} == {
        "1_99_A_G": (2, 8, 2, 0, 2, 0),
        "1_99_A_T": (3, 8, 2, 1, 1, 0),
    }
    assert list(carriers.decode(docs["1_99_A_G"]["car"], 4)) == [True, True, False, False]
    assert list(carriers.decode(docs["1_99_A_T"]["car"], 4)) == [True, False, True, False]


async def test_real_multiallelic_sites_of_chr1(mongo, db_name, ingest):
    await ingest(CHR1, "ds")
    _, docs = await published(mongo[db_name], "ds")

    # 1:15274 A G,T: 774 1|2, 779 2|1 and 805 2|2 calls (bcftools +fill-tags AC_Het/AC_Hom).
    assert counts(docs["1_15273_A_G"]) == (1739, 5008, 1650, 89, 1561, 0)
    assert counts(docs["1_15273_A_T"]) == (3210, 5008, 2405, 805, 1600, 0)
    # HG00096, the first sample, is 1|2 there: a carrier of each ALT, counted once in each.
    assert carriers.decode(docs["1_15273_A_G"]["car"], 2504)[0]
    assert carriers.decode(docs["1_15273_A_T"]["car"], 2504)[0]
    # 1:66381 TATATA AATATA,T: a non-minimal SNV (trimmed to T>A) beside a 5-base deletion.
    assert counts(docs["1_66380_T_A"]) == (55, 5008, 55, 0, 55, 0)
    assert counts(docs["1_66381_ATATA_-"]) == (30, 5008, 29, 1, 28, 0)
    assert docs["1_66380_T_A"]["ids"] == ["rs538833530", "rs545426917"]


async def test_haploid_mitochondrion(mongo, db_name, ingest):
    summary = await ingest(MT, "mt")
    entry, docs = await published(mongo[db_name], "mt")

    assert (summary.samples, summary.alleles, entry["alleles"]) == (2534, 4242, 4242)
    assert {doc["an"] for doc in docs.values()} == {2534}
    assert {(doc["hom"], doc["het"]) for doc in docs.values()} == {(0, 0)}
    assert all(doc["hemi"] == doc["nc"] == doc["ac"] for doc in docs.values())
    # MT:55 TATTTT T,CATTTT,AATTTT,TTT,TTTTT after trimming.
    assert {key: docs[key]["ac"] for key in docs if key.startswith(("MT_54_", "MT_55_"))} == {
        "MT_54_TATTT_-": 5,
        "MT_54_T_C": 3,
        "MT_54_T_A": 2,
        "MT_54_TAT_-": 1,
        "MT_55_A_-": 1,
    }


@pytest.mark.parametrize(
    ("calls", "expected"),
    [
        pytest.param("1 0/1 1/1 0", (4, 6, 3, 1, 1, 1), id="mixed-ploidy"),
        pytest.param("./1 0/. ./. 1/1", (3, 4, 2, 1, 1, 0), id="half-missing"),
        pytest.param("./. ./. ./. ./.", (0, 0, 0, 0, 0, 0), id="all-missing"),
    ],
)
async def test_counts_per_genotype_shape(mongo, db_name, ingest, tmp_path, calls, expected):
    await ingest(write_vcf(tmp_path / "gt.vcf", [f"1 100 . A G . PASS . GT {calls}"]), "ds")
    _, docs = await published(mongo[db_name], "ds")
    assert {key: counts(doc) for key, doc in docs.items()} == {"1_99_A_G": expected}


async def test_symbolic_alleles_keep_type_and_end(mongo, db_name, ingest, tmp_path):
    rows = [
        "1 1000 sv1 A <DEL> . PASS SVTYPE=DEL;END=1500 GT 0/1 0/0 0/0 0/0",
        "1 2000 sv2 C <DUP> . PASS SVTYPE=DUP;SVLEN=300 GT 0/1 0/1 0/0 0/0",
        "1 3000 sv3 G <CN0> . PASS END=3100 GT 1/1 0/0 0/0 0/0",
        "1 4000 sv4 T <DEL> . PASS SVTYPE=DEL;SVLEN=-2500 GT 0/1 1/1 0/0 0/0",
    ]
    await ingest(write_vcf(tmp_path / "sv.vcf", rows), "sv")
    _, docs = await published(mongo[db_name], "sv")

    fields = ("start", "end", "ref", "alt", "vt", "long", "ac", "nc")
    assert {key: tuple(doc[f] for f in fields) for key, doc in docs.items()} == {
        "1_1000_1500_DEL": (1000, 1500, "", "<DEL>", "DEL", False, 1, 1),
        "1_2000_2300_DUP": (2000, 2300, "", "<DUP>", "DUP", False, 2, 2),
        "1_3000_3100_CN0": (3000, 3100, "", "<CN0>", "DEL", False, 2, 1),
        "1_4000_6500_DEL": (4000, 6500, "", "<DEL>", "DEL", True, 3, 2),
    }


async def test_spanning_deletions_and_other_contigs_are_skipped_and_reported(
    mongo, db_name, ingest, tmp_path
):
    rows = [
        "1 100 . A G,* . PASS . GT 0/1 0/2 2/2 0/0",
        "GL000192.1 500 . C T . PASS . GT 0/1 0/0 0/0 0/0",
        "GL000192.1 600 . C T . PASS . GT 0/1 0/0 0/0 0/0",
        "1 200 . C T . PASS . GT 0/0 0/0 0/1 0/0",
    ]
    summary = await ingest(write_vcf(tmp_path / "skip.vcf", rows), "ds")
    entry, docs = await published(mongo[db_name], "ds")

    skipped = {"spanning deletion (*)": 1, "contig GL000192.1 (not a primary chromosome)": 2}
    assert (summary.skipped, entry["skipped"]) == (skipped, skipped)
    assert (summary.records, summary.alleles, entry["alleles"]) == (4, 2, 2)
    assert {key: counts(doc) for key, doc in docs.items()} == {
        "1_99_A_G": (1, 8, 1, 0, 1, 0),
        "1_199_C_T": (1, 8, 1, 0, 1, 0),
    }


@pytest.mark.parametrize("batch_size", [1000, 1], ids=["same-batch", "across-batches"])
async def test_duplicate_normalised_allele_keeps_the_first(
    mongo, db_name, ingest, tmp_path, batch_size
):
    rows = [
        "1 100 first A G . PASS . GT 0/1 0/0 0/0 0/0",
        "1 100 second AT GT . PASS . GT 1/1 1/1 0/0 0/0",
        "1 200 . C T . PASS . GT 0/1 0/0 0/0 0/0",
    ]
    summary = await ingest(write_vcf(tmp_path / "dup.vcf", rows), "ds", batch_size=batch_size)
    entry, docs = await published(mongo[db_name], "ds")

    assert (summary.skipped, entry["skipped"]) == ({DUPLICATE: 1}, {DUPLICATE: 1})
    assert (summary.records, summary.alleles, entry["alleles"]) == (3, 2, 2)
    assert {key: counts(doc) for key, doc in docs.items()} == {
        "1_99_A_G": (1, 8, 1, 0, 1, 0),
        "1_199_C_T": (1, 8, 1, 0, 1, 0),
    }
    assert docs["1_99_A_G"]["ids"] == ["first"]


@pytest.mark.parametrize("compression", ["plain", "bgzf", "gzip"])
async def test_plain_and_compressed_files_store_the_same(
    mongo, db_name, ingest, tmp_path, compression
):
    plain = write_vcf(tmp_path / "v.vcf", [KNOWN_ROW, "1 200 . C T,CA . PASS . GT 0/1 2/2 0/0 0/0"])
    if compression == "plain":
        path = plain
    elif compression == "bgzf":
        path = bgzip(plain.read_bytes(), tmp_path / "v.vcf.gz")
    else:
        path = tmp_path / "v.vcf.gz"
        path.write_bytes(gzip.compress(plain.read_bytes()))
    await ingest(path, "ds")
    _, docs = await published(mongo[db_name], "ds")
    assert {key: counts(doc) for key, doc in docs.items()} == {
        KNOWN_KEY: KNOWN_COUNTS,
        "1_199_C_T": (1, 8, 1, 0, 1, 0),
        "1_200_-_A": (2, 8, 1, 1, 0, 0),
    }


async def test_chr_prefixed_and_plain_chromosome_names_store_the_same(
    mongo, db_name, ingest, tmp_path
):
    def rows(one: str, mito: str) -> list[str]:
        return [
            f"{one} 100 . A G . PASS . GT 0/1 0/0 1/1 0/0",
            f"{mito} 50 . C T . PASS . GT 1 0 1 0",
        ]

    await ingest(write_vcf(tmp_path / "plain.vcf", rows("1", "MT")), "plain")
    await ingest(write_vcf(tmp_path / "chr.vcf", rows("chr1", "chrM")), "chr")
    _, plain = await published(mongo[db_name], "plain")
    _, prefixed = await published(mongo[db_name], "chr")

    assert sorted(plain) == ["1_99_A_G", "MT_49_C_T"]
    assert prefixed == plain


@pytest.mark.parametrize(
    ("alias", "canonical"), [("hg19", "GRCh37"), ("GRCh37.p13", "GRCh37"), ("hg38", "GRCh38")]
)
async def test_assembly_alias_is_stored_canonical(
    mongo, db_name, ingest, tmp_path, alias, canonical
):
    await ingest(write_vcf(tmp_path / "v.vcf", [KNOWN_ROW]), "ds", assembly=alias)
    entry, _ = await published(mongo[db_name], "ds")
    assert entry["assembly"] == canonical
    store = MongoStore(mongo, db_name, catalog_ttl=0)
    assert [ds.assembly for ds in await store.datasets()] == [canonical]


async def test_unknown_assembly_is_refused_before_writing(mongo, db_name, ingest, tmp_path):
    with pytest.raises(IngestError, match="unknown assembly 'hg17'"):
        await ingest(write_vcf(tmp_path / "v.vcf", [KNOWN_ROW]), "ds", assembly="hg17")
    assert await mongo[db_name].list_collection_names() == []


async def test_cli_prints_the_summary(mongo, db_name, start_ingest, tmp_path):
    rows = [
        KNOWN_ROW,
        "1 150 . A G,* . PASS . GT 0/2 0/1 0/0 0/0",
        "1 200 . C T . PASS . GT 0/1 0/0 0/0 0/0",
    ]
    running = await start_ingest(write_vcf(tmp_path / "v.vcf", rows), "ds")
    assert await running.proc.wait() == 0

    entry, _ = await published(mongo[db_name], "ds")
    assert running.err.read_text() == ""
    assert re.fullmatch(
        rf"dataset ds: release {entry['release']} published\n"
        r"  3 records, 3 alleles, 4 samples in \d+\.\d s \([\d,]+ alleles/s\)\n"
        r"  skipped 1: spanning deletion \(\*\)\n",
        running.out.read_text(),
    )


async def test_cli_missing_file_is_one_line_error(mongo, db_name, start_ingest, tmp_path):
    missing = tmp_path / "missing.vcf.gz"
    running = await start_ingest(missing, "ds")
    assert await running.proc.wait() == 2
    assert running.err.read_text() == f"error: {missing}: no such file\n"
    assert running.out.read_text() == ""
    assert await mongo[db_name].list_collection_names() == []


async def test_refseq_contigs_are_canonical_and_checked_against_the_assembly(
    ingest, mongo, db_name, tmp_path
):
    header = "##contig=<ID=NC_000001.10,length=249250621>\n"
    rows = ["NC_000001.10 100 . A G . PASS . GT 0/1 0/0 0/0 0/0"]
    vcf = write_vcf(tmp_path / "refseq.vcf", rows)
    vcf.write_text(
        vcf.read_text().replace("##fileformat=VCFv4.2\n", "##fileformat=VCFv4.2\n" + header)
    )
    await ingest(vcf, "refseq", assembly="hg19")
    catalog = await mongo[db_name]["datasets"].find_one({"_id": "refseq"})
    stored = await mongo[db_name][catalog["collection"]].find_one({})
    assert (stored["_id"], stored["chrom"]) == ("1_99_A_G", "1")
    with pytest.raises(
        IngestError,
        match=r"line \d+: contig NC_000001.10 is a GRCh37 accession, "
        r"but the dataset is GRCh38",
    ):
        await ingest(vcf, "refseq38", assembly="GRCh38")
