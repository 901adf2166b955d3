"""What a store finds and what a response may carry: plain frozen values, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from beacon.query import Allele


class Granularity(IntEnum):
    """Beacon granularities, ordered so that min() caps one by another."""

    BOOLEAN = 1
    COUNT = 2
    RECORD = 3

    @classmethod
    def parse(cls, text: str) -> Granularity:
        return cls[text.upper()]

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class AlleleCounts:
    """Counts of one allele in one dataset, computed from genotypes (or INFO for sites-only VCFs).

    `homozygous`, `heterozygous`, `hemizygous` count individuals, as gnomAD's `nhomalt` does.
    `carriers` is None when the dataset has no genotypes.
    """

    allele_count: int
    allele_number: int
    carriers: int | None
    homozygous: int | None
    heterozygous: int | None
    hemizygous: int | None

    @property
    def frequency(self) -> float:
        return self.allele_count / self.allele_number if self.allele_number else 0.0


@dataclass(frozen=True, slots=True)
class VariantHit:
    """One stored allele that matched, with its counts and its external ids (rsIDs)."""

    allele: Allele
    counts: AlleleCounts
    names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    """A dataset as the catalog knows it; `release` changes with every successful ingest."""

    id: str
    name: str
    assembly: str
    release: str
    collection: str
    samples: int
    alleles: int
    counts_source: str
    description: str = ""
    long_alleles: int | None = None
    created: str = ""
    updated: str = ""


@dataclass(frozen=True, slots=True)
class DatasetHits:
    """What one dataset holds for one query: how many alleles matched, one page of them, and
    (when asked) how many distinct individuals carry any of them (None: no genotypes)."""

    dataset: DatasetInfo
    total: int
    page: tuple[VariantHit, ...] = ()
    individuals: int | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        return self.total > 0


@dataclass(frozen=True, slots=True)
class Carried:
    """What a budget needs of one dataset's answer: the matched alleles as (key, allele count,
    allele number), and the indexes of the samples carrying any of them."""

    alleles: tuple[tuple[str, int, int], ...]
    samples: tuple[int, ...]
