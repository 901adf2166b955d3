"""Assembly aliases, chromosome names and RefSeq accessions (beacon.assemblies)."""

from __future__ import annotations

import pytest

from beacon.assemblies import (
    ASSEMBLIES,
    CHROMOSOMES,
    canonical_assembly,
    canonical_chromosome,
    refseq_accession,
)
from beacon.errors import InvalidRequest

# NCBI RefSeq accessions of the primary assembly chromosomes, written out independently of the
# module's table: GRCh37 = GCF_000001405.25, GRCh38 = GCF_000001405.26.
REFSEQ = {
    "GRCh37": {
        "1": "NC_000001.10", "2": "NC_000002.11", "3": "NC_000003.11", "4": "NC_000004.11",
        "5": "NC_000005.9", "6": "NC_000006.11", "7": "NC_000007.13", "8": "NC_000008.10",
        "9": "NC_000009.11", "10": "NC_000010.10", "11": "NC_000011.9", "12": "NC_000012.11",
        "13": "NC_000013.10", "14": "NC_000014.8", "15": "NC_000015.9", "16": "NC_000016.9",
        "17": "NC_000017.10", "18": "NC_000018.9", "19": "NC_000019.9", "20": "NC_000020.10",
        "21": "NC_000021.8", "22": "NC_000022.10", "X": "NC_000023.10", "Y": "NC_000024.9",
        "MT": "NC_012920.1",
    },
    "GRCh38": {
        "1": "NC_000001.11", "2": "NC_000002.12", "3": "NC_000003.12", "4": "NC_000004.12",
        "5": "NC_000005.10", "6": "NC_000006.12", "7": "NC_000007.14", "8": "NC_000008.11",
        "9": "NC_000009.12", "10": "NC_000010.11", "11": "NC_000011.10", "12": "NC_000012.12",
        "13": "NC_000013.11", "14": "NC_000014.9", "15": "NC_000015.10", "16": "NC_000016.10",
        "17": "NC_000017.11", "18": "NC_000018.10", "19": "NC_000019.10", "20": "NC_000020.11",
        "21": "NC_000021.9", "22": "NC_000022.11", "X": "NC_000023.11", "Y": "NC_000024.10",
        "MT": "NC_012920.1",
    },
}  # fmt: skip

ACCESSIONS = [
    (assembly, chrom, accession)
    for assembly, table in REFSEQ.items()
    for chrom, accession in table.items()
]


def test_known_assemblies_and_chromosomes() -> None:
    assert ASSEMBLIES == ("GRCh37", "GRCh38")
    assert len(CHROMOSOMES) == 25
    assert CHROMOSOMES[:3] + CHROMOSOMES[-4:] == ("1", "2", "3", "22", "X", "Y", "MT")
    assert set(REFSEQ["GRCh37"]) == set(CHROMOSOMES)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("GRCh37", "GRCh37"),
        ("grch37", "GRCh37"),
        ("hg19", "GRCh37"),
        ("HG19", "GRCh37"),
        ("b37", "GRCh37"),
        ("hs37d5", "GRCh37"),
        ("GRCh37.p13", "GRCh37"),
        ("GCF_000001405.25", "GRCh37"),
        ("gcf_000001405.13", "GRCh37"),
        ("GRCh38", "GRCh38"),
        ("hg38", "GRCh38"),
        ("b38", "GRCh38"),
        (" hg38 ", "GRCh38"),
        ("GRCh38.p14", "GRCh38"),
        ("GRCh38.p1", "GRCh38"),
        ("GCF_000001405.26", "GRCh38"),
        ("GCF_000001405.40", "GRCh38"),
        ("GCF_000001405.39", "GRCh38"),
    ],
)
def test_canonical_assembly(name: str, expected: str) -> None:
    assert canonical_assembly(name) == expected


@pytest.mark.parametrize(
    "name", ["hg17", "hg18", "NCBI36", "GRCh39", "T2T-CHM13", "", "GCF_000001405", "GRCh38.x1"]
)
def test_unknown_assembly(name: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        canonical_assembly(name)
    assert caught.value.message == (
        f"unknown assembly {name!r}: use GRCh37 (hg19) or GRCh38 (hg38)"
    )


@pytest.mark.parametrize(("assembly", "chrom", "accession"), ACCESSIONS)
def test_refseq_accession(assembly: str, chrom: str, accession: str) -> None:
    assert refseq_accession(assembly, chrom) == accession


@pytest.mark.parametrize(("assembly", "chrom", "accession"), ACCESSIONS)
def test_accession_names_its_chromosome_and_assembly(
    assembly: str, chrom: str, accession: str
) -> None:
    implied = None if chrom == "MT" else assembly
    assert canonical_chromosome(accession) == (chrom, implied)
    assert canonical_chromosome(f"refseq:{accession}") == (chrom, implied)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("1", ("1", None)),
        ("chr1", ("1", None)),
        ("CHR1", ("1", None)),
        (" chr2 ", ("2", None)),
        ("22", ("22", None)),
        ("chrX", ("X", None)),
        ("x", ("X", None)),
        ("23", ("X", None)),
        ("26", ("MT", None)),
        ("chr23", ("X", None)),
        ("Y", ("Y", None)),
        ("24", ("Y", None)),
        ("chrM", ("MT", None)),
        ("M", ("MT", None)),
        ("MT", ("MT", None)),
        ("chrMT", ("MT", None)),
        ("mt", ("MT", None)),
        ("NC_000001.10", ("1", "GRCh37")),
        ("refseq:NC_000001.11", ("1", "GRCh38")),
        ("nc_000017.11", ("17", "GRCh38")),
        ("RefSeq:NC_000017.10", ("17", "GRCh37")),
        ("NC_000022.10", ("22", "GRCh37")),
        ("NC_000022.11", ("22", "GRCh38")),
        ("NC_000023.11", ("X", "GRCh38")),
        ("NC_000024.9", ("Y", "GRCh37")),
        ("NC_012920.1", ("MT", None)),
        ("refseq:NC_012920.1", ("MT", None)),
    ],
)
def test_canonical_chromosome(name: str, expected: tuple[str, str | None]) -> None:
    assert canonical_chromosome(name) == expected


@pytest.mark.parametrize(
    "name",
    [
        "0",
        "chr0",
        "25",
        "chr99",
        "chrUn",
        "GL000192.1",
        "chr1_gl000191_random",
        "",
        "chr",
        "NC_012920.2",
        "NC_001807.4",
    ],
)
def test_unknown_chromosome(name: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        canonical_chromosome(name)
    assert caught.value.message == (
        f"unknown chromosome {name!r}: use 1-22, X, Y, MT (or chr1, NC_000001.11)"
    )


@pytest.mark.parametrize("name", ["NC_000025.1", "NC_000000.1"])
def test_accession_of_no_chromosome(name: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        canonical_chromosome(name)
    assert caught.value.message == f"unknown chromosome {name!r}"


@pytest.mark.parametrize(
    "name", ["NC_000017.9", "NC_000017.12", "refseq:NC_000001.9", "NC_000023.9"]
)
def test_accession_of_another_assembly(name: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        canonical_chromosome(name)
    assert caught.value.message == f"{name!r} is not a GRCh37 or GRCh38 chromosome accession"
