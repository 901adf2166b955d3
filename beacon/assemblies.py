"""Assembly aliases and chromosome names: the one place that knows GRCh37 from GRCh38."""

from __future__ import annotations

import re

from beacon.errors import InvalidRequest

ASSEMBLIES = ("GRCh37", "GRCh38")

_ASSEMBLY_ALIASES = {
    "grch37": "GRCh37",
    "hg19": "GRCh37",
    "b37": "GRCh37",
    "hs37d5": "GRCh37",
    "gcf_000001405.25": "GRCh37",
    "grch38": "GRCh38",
    "hg38": "GRCh38",
    "b38": "GRCh38",
    "gcf_000001405.26": "GRCh38",
}

CHROMOSOMES = (*[str(i) for i in range(1, 23)], "X", "Y", "MT")

# RefSeq accession versions of the primary assembly chromosomes, 1..22, X, Y.
_REFSEQ_VERSION = {
    "GRCh37": (
        10,
        11,
        11,
        11,
        9,
        11,
        13,
        10,
        11,
        10,
        9,
        11,
        10,
        8,
        9,
        9,
        10,
        9,
        9,
        10,
        8,
        10,
        10,
        9,
    ),
    "GRCh38": (
        11,
        12,
        12,
        12,
        10,
        12,
        14,
        11,
        12,
        11,
        10,
        12,
        11,
        9,
        10,
        10,
        11,
        10,
        10,
        11,
        9,
        11,
        11,
        10,
    ),
}
_MT_ACCESSION = "NC_012920.1"

# PLINK numbers: 23 X, 24 Y, 25 the XY pseudo-autosomal region (not a chromosome), 26 MT.
_CHROM_ALIASES = {"M": "MT", "23": "X", "24": "Y", "26": "MT"}
_REFSEQ = re.compile(r"^(?:refseq:)?NC_0000(\d\d)\.(\d+)$", re.IGNORECASE)


def canonical_assembly(name: str) -> str:
    """`hg19`, `GRCh37.p13`, `GCF_000001405.25` -> `GRCh37`; raises InvalidRequest when unknown."""
    key = name.strip().lower()
    key = re.sub(r"\.p\d+$", "", key)
    if key in _ASSEMBLY_ALIASES:
        return _ASSEMBLY_ALIASES[key]
    if re.fullmatch(r"gcf_000001405\.(\d+)", key):
        version = int(key.rsplit(".", 1)[1])
        return "GRCh38" if version >= 26 else "GRCh37"
    raise InvalidRequest(f"unknown assembly {name!r}: use GRCh37 (hg19) or GRCh38 (hg38)")


def refseq_accession(assembly: str, chrom: str) -> str:
    """RefSeq accession of a canonical chromosome in a canonical assembly, e.g. NC_000022.10."""
    if chrom == "MT":
        return _MT_ACCESSION
    number = 23 if chrom == "X" else 24 if chrom == "Y" else int(chrom)
    return f"NC_{number:06d}.{_REFSEQ_VERSION[assembly][number - 1]}"


def canonical_chromosome(name: str) -> tuple[str, str | None]:
    """A chromosome name -> (canonical name, assembly the name implies or None).

    Accepts `1`, `chr1`, `X`, `chrM`, `MT`, `NC_000001.10` and `refseq:NC_000001.11`.
    Raises InvalidRequest for anything that is not a primary-assembly chromosome.
    """
    text = name.strip()
    match = _REFSEQ.match(text)
    if match:
        return _from_refseq(int(match.group(1)), int(match.group(2)), name)
    if text.upper() in ("NC_012920.1", "REFSEQ:NC_012920.1"):
        return "MT", None
    short = text[3:] if text.lower().startswith("chr") else text
    short = short.upper()
    short = _CHROM_ALIASES.get(short, short)
    if short in CHROMOSOMES:
        return short, None
    raise InvalidRequest(f"unknown chromosome {name!r}: use 1-22, X, Y, MT (or chr1, NC_000001.11)")


def _from_refseq(number: int, version: int, original: str) -> tuple[str, str]:
    if not 1 <= number <= 24:
        raise InvalidRequest(f"unknown chromosome {original!r}")
    chrom = "X" if number == 23 else "Y" if number == 24 else str(number)
    for assembly, versions in _REFSEQ_VERSION.items():
        if versions[number - 1] == version:
            return chrom, assembly
    raise InvalidRequest(f"{original!r} is not a GRCh37 or GRCh38 chromosome accession")
