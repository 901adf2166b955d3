"""Reads a VCF with cyvcf2 and yields normalised alleles with counts from the genotypes.

The only module that imports cyvcf2, and the only place VCF's 1-based POS is seen (cyvcf2's
`Variant.start` is already 0-based). Multi-allelic records are split into one allele per ALT.
Counts come from GT, never INFO, unless the file has no samples at all (sites-only), where INFO
AC/AN are used and `counts_source` says so.
"""

from __future__ import annotations

import gzip
import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cyvcf2
import numpy as np
import numpy.typing as npt

from beacon import carriers
from beacon.assemblies import canonical_chromosome
from beacon.errors import IngestError, InvalidRequest
from beacon.ingest.bgzf import EOF_BLOCK
from beacon.query import Allele, sequence_allele, symbolic_allele
from beacon.results import AlleleCounts

_REF = re.compile(r"^[ACGTN]+$")
_SKIPPED_ALTS = {
    "*": "spanning deletion (*)",
    ".": "no ALT",
    "<*>": "gVCF <*>",
    "<NON_REF>": "gVCF <NON_REF>",
}


@dataclass(frozen=True, slots=True)
class ReadAllele:
    """One allele of one record, ready to store; `carriers` is None without genotypes."""

    allele: Allele
    counts: AlleleCounts
    carriers: bytes | None
    names: tuple[str, ...]
    line: int


@dataclass
class ReadStats:
    records: int = 0
    alleles: int = 0
    skipped: Counter[str] = field(default_factory=Counter)


class VcfReader:
    """Iterates a VCF's alleles; raises IngestError naming the file and line on bad input."""

    def __init__(self, path: Path, assembly: str | None = None) -> None:
        """`assembly` (canonical) is checked against contigs named by RefSeq accession."""
        self.path = path
        self.assembly = assembly
        if not path.is_file():
            raise IngestError(f"{path}: no such file")
        try:
            # No decompression thread: it reads ahead, so a truncated file would fail lines early.
            self._vcf = cyvcf2.VCF(str(path), gts012=False, lazy=True)
        except Exception as exc:  # cyvcf2 raises bare Exception/OSError on unreadable input
            raise IngestError(f"{path}: not a readable VCF ({exc})") from exc
        self.samples: int = len(self._vcf.samples)
        self.header_lines: int = _header_lines(path) or self._vcf.raw_header.count("\n")
        self._eof_missing = _bgzf_eof_missing(path)
        self.counts_source = "genotypes" if self.samples else "INFO"
        self.stats = ReadStats()
        self._chroms: dict[str, str | None] = {}

    @property
    def expected_records(self) -> int | None:
        """Record count from the tabix/CSI index, when there is one (for the progress bar)."""
        if not any(Path(f"{self.path}{ext}").exists() for ext in (".tbi", ".csi")):
            return None  # htslib would print an error while looking for one
        try:
            count = int(self._vcf.num_records)
        except Exception:  # no index: cyvcf2 raises
            return None
        return count if count > 0 else None

    def __iter__(self) -> Iterator[ReadAllele]:
        for record, line in self._records():
            yield from self._alleles(record, line)

    def frequencies(self) -> Iterator[tuple[Allele, float]]:
        """Each allele with its population frequency from INFO: AF, else AC/AN (a sites-only
        reference such as gnomAD's). Genotypes are not read. Alleles without either are counted
        in `stats.skipped`."""
        for record, line in self._records():
            chrom = self._chrom(record.CHROM, line)
            if chrom is None:
                self.stats.skipped[f"contig {record.CHROM} (not a primary chromosome)"] += 1
                continue
            ref = record.REF.upper()
            if record.start < 0 or not _REF.match(ref):
                self.stats.skipped["bad POS or REF"] += 1
                continue
            for index, alt in enumerate(record.ALT, start=1):
                allele = self._allele(chrom, record, ref, alt.upper(), line)
                frequency = _info_frequency(record, index)
                if allele is None:
                    continue
                if frequency is None:
                    self.stats.skipped["no INFO/AF (or AC and AN)"] += 1
                    continue
                self.stats.alleles += 1
                yield allele, frequency

    def _records(self) -> Iterator[tuple[Any, int]]:
        records = iter(self._vcf)
        while True:
            line = self.header_lines + self.stats.records + 1
            try:
                record = next(records)
            except StopIteration:
                if self._eof_missing:  # htslib only warns, and would publish a cut-off file
                    raise IngestError(
                        f"{self.path}: line {line}: the file ends without the BGZF end-of-file "
                        "block: it is probably truncated"
                    ) from None
                return
            except Exception as exc:
                raise IngestError(
                    f"{self.path}: line {line}: htslib could not parse this record ({exc})"
                ) from exc
            self.stats.records += 1
            yield record, line

    def _chrom(self, name: str, line: int) -> str | None:
        if name not in self._chroms:
            try:
                chrom, implied = canonical_chromosome(name)
            except InvalidRequest:
                chrom, implied = None, None
            if implied and self.assembly and implied != self.assembly:
                raise IngestError(
                    f"{self.path}: line {line}: contig {name} is a {implied} "
                    f"accession, but the dataset is {self.assembly}"
                )
            self._chroms[name] = chrom
        return self._chroms[name]

    def _alleles(self, record: Any, line: int) -> Iterator[ReadAllele]:
        chrom = self._chrom(record.CHROM, line)
        if chrom is None:
            self.stats.skipped[f"contig {record.CHROM} (not a primary chromosome)"] += 1
            return
        if record.start < 0:
            raise IngestError(f"{self.path}: line {line}: POS must be 1 or more")
        ref = record.REF.upper()
        if not _REF.match(ref):
            raise IngestError(f"{self.path}: line {line}: REF {record.REF!r} is not DNA")
        alts = record.ALT
        if not alts:
            self.stats.skipped["no ALT"] += 1
            return
        genotypes = self._genotypes(record, len(alts), line) if self.samples else None
        names = tuple(n for n in (record.ID or "").split(";") if n and n != ".")
        for index, alt in enumerate(alts, start=1):
            allele = self._allele(chrom, record, ref, alt.upper(), line)
            if allele is None:
                continue
            counts, blob = (
                self._genotype_counts(genotypes, index)
                if genotypes is not None
                else (self._info_counts(record, index, line), None)
            )
            self.stats.alleles += 1
            yield ReadAllele(allele, counts, blob, names, line)

    def _allele(self, chrom: str, record: Any, ref: str, alt: str, line: int) -> Allele | None:
        if alt in _SKIPPED_ALTS:
            self.stats.skipped[_SKIPPED_ALTS[alt]] += 1
            return None
        if "[" in alt or "]" in alt:
            self.stats.skipped["breakend (BND) allele"] += 1
            return None
        if alt.startswith("<"):
            try:
                return symbolic_allele(
                    chrom, record.start, alt, _int_info(record, "END"), _int_info(record, "SVLEN")
                )
            except ValueError as exc:
                raise IngestError(f"{self.path}: line {line}: {exc}") from exc
        if not _REF.match(alt):
            raise IngestError(f"{self.path}: line {line}: ALT {alt!r} is not DNA")
        if alt == ref:
            self.stats.skipped["ALT equal to REF"] += 1
            return None
        return sequence_allele(chrom, record.start, ref, alt)

    def _genotypes(self, record: Any, alts: int, line: int) -> _Calls:
        try:  # lazy parsing: a broken sample column shows only now, as a bare Exception
            calls = record.genotype.array()[:, :-1]
        except Exception as exc:
            raise IngestError(f"{self.path}: line {line}: unreadable genotypes ({exc})") from exc
        highest = int(calls.max()) if calls.size else 0
        if highest > alts:
            raise IngestError(
                f"{self.path}: line {line}: GT refers to allele {highest} "
                f"but the record has {alts} ALT"
            )
        return _Calls(calls)

    @staticmethod
    def _genotype_counts(calls: _Calls, index: int) -> tuple[AlleleCounts, bytes]:
        copies = calls.copies(index)
        mask = copies > 0
        carrier_count = int(np.count_nonzero(mask))
        if calls.mixed_ploidy:
            hom = mask & (copies == calls.ploidy) & (calls.ploidy >= 2)
            n_hom = int(np.count_nonzero(hom))
            n_hemi = int(np.count_nonzero(mask & (calls.ploidy == 1)))
        elif calls.width == 1:
            n_hom, n_hemi = 0, carrier_count
        else:
            n_hom, n_hemi = int(np.count_nonzero(copies == calls.width)), 0
        counts = AlleleCounts(
            int(copies.sum()),
            calls.allele_number,
            carrier_count,
            n_hom,
            carrier_count - n_hom - n_hemi,
            n_hemi,
        )
        return counts, carriers.encode(mask)

    def _info_counts(self, record: Any, index: int, line: int) -> AlleleCounts:
        ac, an = record.INFO.get("AC"), record.INFO.get("AN")
        if ac is None or an is None:
            raise IngestError(
                f"{self.path}: line {line}: the file has no genotypes and this "
                "record has no INFO/AC and INFO/AN to count from"
            )
        values = ac if isinstance(ac, tuple) else (ac,)
        if len(values) < index:
            raise IngestError(f"{self.path}: line {line}: INFO/AC has fewer values than ALT")
        return AlleleCounts(int(values[index - 1]), int(an), None, None, None, None)


class _Calls:
    """One record's GT calls (samples x ploidy; -1 missing, -2 padding of a shorter ploidy).

    Per-sample sums run column by column: ploidy is tiny, and numpy's axis reductions are
    several times slower than a few element-wise adds on 1-D columns.
    """

    def __init__(self, calls: npt.NDArray[np.int16]) -> None:
        self.columns = [calls[:, j] for j in range(calls.shape[1])]
        self.width = len(self.columns)
        self.allele_number = int(np.count_nonzero(calls >= 0))
        # the first column is never padding: every sample has at least one allele
        padded = [column == -2 for column in self.columns[1:]]
        self.mixed_ploidy = any(bool(pad.any()) for pad in padded)
        self.ploidy = np.ones(len(calls), dtype=np.int8)
        if self.mixed_ploidy:
            for pad in padded:
                self.ploidy += ~pad

    def copies(self, index: int) -> npt.NDArray[np.int8]:
        """How many copies of allele `index` each sample carries."""
        total: npt.NDArray[np.int8] = (self.columns[0] == index).astype(np.int8)
        for column in self.columns[1:]:
            total += column == index
        return total


def _header_lines(path: Path) -> int:
    """Header lines as written in the file; htslib's raw_header may add some (FILTER PASS)."""
    try:
        with path.open("rb") as raw:
            compressed = raw.read(2) == b"\x1f\x8b"
        with gzip.open(path, "rb") if compressed else path.open("rb") as text:
            count = 0
            for row in text:
                if not row.startswith(b"#"):
                    break
                count += 1
            return count
    except (OSError, EOFError):
        return 0


def _bgzf_eof_missing(path: Path) -> bool:
    """A BGZF file whose last block is not the empty end-of-file block."""
    with path.open("rb") as raw:
        head = raw.read(14)
        if head[:4] != b"\x1f\x8b\x08\x04" or head[12:14] != b"BC":
            return False
        raw.seek(max(0, raw.seek(0, os.SEEK_END) - len(EOF_BLOCK)))
        return raw.read() != EOF_BLOCK


def _info_frequency(record: Any, index: int) -> float | None:
    """The `index`-th ALT's INFO/AF, else INFO/AC / INFO/AN; None when neither is usable."""
    af = record.INFO.get("AF")
    if af is not None:
        values = af if isinstance(af, tuple) else (af,)
        if len(values) >= index and values[index - 1] is not None:
            # htslib reads AF as a 32-bit float: 0.01 arrives as 0.0099999998
            value = float(f"{float(values[index - 1]):.7g}")
            return value if 0.0 <= value <= 1.0 else None
    ac, an = record.INFO.get("AC"), record.INFO.get("AN")
    if ac is None or not an:
        return None
    counts = ac if isinstance(ac, tuple) else (ac,)
    if len(counts) < index:
        return None
    return min(max(int(counts[index - 1]) / int(an), 0.0), 1.0)


def _int_info(record: Any, key: str) -> int | None:
    value = record.INFO.get(key)
    if isinstance(value, tuple):
        value = value[0] if value else None
    return int(value) if value is not None else None
