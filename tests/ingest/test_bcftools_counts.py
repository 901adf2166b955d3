"""Counts stored by ingest equal what bcftools computes from the genotypes of the three real VCFs.

Expected values come from the commands in ../shared/data/README.md, run through bcftools 1.16;
each bcftools row is mapped to our allele key with the same normalisation rules the node uses.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from beacon import carriers
from beacon.assemblies import canonical_chromosome
from beacon.query import Allele, sequence_allele, symbolic_allele
from tests.conftest import CHR1, CINECA, MT

# %END is INFO/END when the record has one (the <CN*> rows), else POS + len(REF) - 1.
COUNT_FORMAT = (
    "%CHROM\t%POS\t%REF\t%ALT\t%END\t"
    "%INFO/AC\t%INFO/AN\t%INFO/AC_Het\t%INFO/AC_Hom\t%INFO/AC_Hemi\n"
)
CARRIER_FORMAT = "%CHROM\t%POS\t%REF\t%ALT[\t%SAMPLE]\n"


@dataclass(frozen=True)
class Expected:
    """One ALT allele as bcftools counts it; `hom`, `het` and `hemi` count individuals."""

    row: tuple[str, str, str, str]
    allele: Allele
    ac: int
    an: int
    hom: int
    het: int
    hemi: int


def bcftools() -> str:
    """The bcftools executable; CI must have it, elsewhere the comparison is skipped."""
    found = shutil.which("bcftools")
    if found is None:
        reason = (
            "bcftools is not on PATH (install it, e.g. `make tools` or apt-get install bcftools)"
        )
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(f"{reason}; CI is set, so this is a failure")
        pytest.skip(reason)
    return found


def pipeline(*commands: list[str]) -> list[list[str]]:
    """Run commands joined by pipes; their stdout's tab-separated rows. Fails on any exit code."""
    with tempfile.TemporaryFile() as errors:
        procs: list[subprocess.Popen[bytes]] = []
        for command in commands:
            upstream = procs[-1].stdout if procs else None
            stdin = upstream if upstream is not None else subprocess.DEVNULL
            procs.append(
                subprocess.Popen(command, stdin=stdin, stdout=subprocess.PIPE, stderr=errors)
            )
            if upstream is not None:
                upstream.close()  # the next command owns it now
        out, _ = procs[-1].communicate()
        codes = [proc.wait() for proc in procs]
        errors.seek(0)
        assert codes == [0] * len(codes), errors.read().decode(errors="replace")[-2000:]
    return [line.split("\t") for line in out.decode().splitlines()]


def allele_for(chrom: str, pos: str, ref: str, alt: str, end: str) -> Allele:
    """Our normalised allele for one row of `bcftools norm -m-` (1-based POS, VCF END)."""
    name = canonical_chromosome(chrom)[0]
    if alt.startswith("<"):
        return symbolic_allele(name, int(pos) - 1, alt, int(end), None)
    return sequence_allele(name, int(pos) - 1, ref.upper(), alt.upper())


def expected_counts(exe: str, path: Path) -> list[Expected]:
    """AC, AN and AC_Het/AC_Hom/AC_Hemi recomputed from GT, one row per ALT, in file order."""
    rows = pipeline(
        [exe, "annotate", "-x", "INFO/AC,INFO/AN", str(path)],
        [exe, "norm", "-m-"],
        [exe, "+fill-tags", "--", "-t", "AC,AN,AC_Het,AC_Hom,AC_Hemi"],
        [exe, "query", "-f", COUNT_FORMAT],
    )
    found = []
    for chrom, pos, ref, alt, end, ac, an, het, hom, hemi in rows:
        # AC_Hom counts alleles in homozygous calls: two per diploid individual.
        assert int(hom) % 2 == 0, (chrom, pos, ref, alt, hom)
        found.append(
            Expected(
                (chrom, pos, ref, alt),
                allele_for(chrom, pos, ref, alt, end),
                int(ac),
                int(an),
                int(hom) // 2,
                int(het),
                int(hemi),
            )
        )
    return found


def expected_carriers(exe: str, path: Path) -> dict[tuple[str, str, str, str], set[str]]:
    """Samples whose GT holds each ALT; alleles nobody carries are absent."""
    rows = pipeline(
        [exe, "norm", "-m-", str(path)],
        [exe, "query", "-i", 'GT="alt"', "-f", CARRIER_FORMAT],
    )
    return {(r[0], r[1], r[2], r[3]): set(r[4:]) for r in rows}


def sample_names(exe: str, path: Path) -> list[str]:
    return [row[0] for row in pipeline([exe, "query", "-l", str(path)])]


async def stored(mongo: AsyncMongoClient[dict[str, Any]], db_name: str, dataset: str) -> Any:
    db = mongo[db_name]
    catalog = await db["datasets"].find_one({"_id": dataset})
    assert catalog is not None
    docs = await db[catalog["collection"]].find({}).to_list(None)
    return catalog, {doc["_id"]: doc for doc in docs}


@pytest.mark.parametrize(
    ("path", "records", "samples", "alleles", "symbolic"),
    [
        pytest.param(CINECA, 5002, 2504, 5002, 4, id="cineca-chr22"),
        pytest.param(MT, 3892, 2534, 4242, 0, id="1kg-chrMT"),
        pytest.param(CHR1, 1042, 2504, 1044, 0, id="1kg-chr1"),
    ],
)
async def test_counts_equal_bcftools(
    mongo, db_name, ingest, path, records, samples, alleles, symbolic
):
    exe = bcftools()
    expected = expected_counts(exe, path)
    carried = expected_carriers(exe, path)
    names = sample_names(exe, path)
    wanted = {item.allele.key: item for item in expected}
    # No two bcftools rows of these files normalise to one allele, so nothing is dropped.
    assert (len(expected), len(wanted), len(names)) == (alleles, alleles, samples)

    summary = await ingest(path, "ds")
    catalog, docs = await stored(mongo, db_name, "ds")

    assert (summary.records, summary.alleles, summary.samples) == (records, alleles, samples)
    assert summary.skipped == {}
    assert (catalog["records"], catalog["alleles"], catalog["samples"]) == (
        records,
        alleles,
        samples,
    )
    assert (catalog["counts_source"], catalog["skipped"]) == ("genotypes", {})
    assert sorted(docs) == sorted(wanted)
    assert sum(doc["alt"].startswith("<") for doc in docs.values()) == symbolic

    for key, want in wanted.items():
        doc = docs[key]
        allele = want.allele
        assert (doc["chrom"], doc["start"], doc["end"], doc["ref"], doc["alt"], doc["vt"]) == (
            allele.chrom,
            allele.start,
            allele.end,
            allele.ref,
            allele.alt,
            allele.variant_type,
        ), want.row
        holders = carried.get(want.row, set())
        got = (doc["ac"], doc["an"], doc["nc"], doc["hom"], doc["het"], doc["hemi"])
        assert got == (want.ac, want.an, len(holders), want.hom, want.het, want.hemi), want.row
        mask = carriers.decode(doc["car"], samples)
        assert {names[i] for i in mask.nonzero()[0]} == holders, want.row
