"""The attack's cohort: who carries which allele, the split into ingested and held-out people,
and the VCF of the ingested ones (written with bcftools).

Carriers come from GT (a sample carries an allele when either of its calls is that allele;
missing calls carry nothing), never from INFO. INFO/AF, the 1000 Genomes frequency over all
2,504 people, is what the attacker and the reference population know.
"""

from __future__ import annotations

import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

import cyvcf2
import numpy as np
import numpy.typing as npt

BCFTOOLS = "/usr/bin/bcftools"
COMMON = 0.01
"""Alleles at or above this reference AF are 'common' in the utility figures."""


@dataclass(frozen=True)
class Allele:
    """One ALT allele as the attacker asks for it: 0-based start, VCF-padded bases."""

    chrom: str
    start: int
    ref: str
    alt: str
    af: float
    """INFO/AF: the reference (1000 Genomes) frequency the attacker knows."""

    def params(self) -> dict[str, str]:
        return {
            "referenceName": self.chrom,
            "start": str(self.start),
            "referenceBases": self.ref,
            "alternateBases": self.alt,
            "assemblyId": "GRCh37",
        }


@dataclass(frozen=True)
class Cohort:
    samples: tuple[str, ...]
    alleles: tuple[Allele, ...]
    carriers: npt.NDArray[np.bool_]
    """alleles x samples: True where the sample carries the allele."""


def load_cohort(path: Path) -> Cohort:
    """Every non-symbolic ALT allele of `path` with its carriers (symbolic ones cannot be asked
    for as a sequence query); an allele written twice is kept once."""
    vcf = cyvcf2.VCF(str(path))
    samples = tuple(vcf.samples)
    alleles: list[Allele] = []
    rows: list[npt.NDArray[np.bool_]] = []
    seen: set[tuple[str, int, str, str]] = set()
    for record in vcf:
        calls = record.genotype.array()[:, :-1]
        afs = record.INFO.get("AF")
        afs = afs if isinstance(afs, tuple) else (afs,)
        for index, alt in enumerate(record.ALT):
            key = (record.CHROM, record.POS - 1, record.REF, alt)
            if alt.startswith("<") or alt == "*" or key in seen:
                continue
            seen.add(key)
            af = float(afs[index]) if afs[index] is not None else 0.0
            alleles.append(Allele(*key, af=af))
            rows.append((calls == index + 1).any(axis=1))
    vcf.close()
    return Cohort(samples, tuple(alleles), np.array(rows, dtype=bool))


@dataclass(frozen=True)
class Split:
    """Indexes into the cohort's samples: who is in the beacon, who is held out, and which of
    them the attacker tests (victims are in, controls are out)."""

    ingested: tuple[int, ...]
    held_out: tuple[int, ...]
    victims: tuple[int, ...]
    controls: tuple[int, ...]


def split(cohort: Cohort, *, holdout: int, victims: int, controls: int, seed: int) -> Split:
    if controls > holdout:
        raise ValueError(f"{controls} controls need at least as many held-out samples")
    rng = random.Random(seed)
    order = list(range(len(cohort.samples)))
    rng.shuffle(order)
    held, ingested = sorted(order[:holdout]), sorted(order[holdout:])
    return Split(
        ingested=tuple(ingested),
        held_out=tuple(held),
        victims=tuple(sorted(rng.sample(ingested, victims))),
        controls=tuple(sorted(rng.sample(held, controls))),
    )


def write_ingested(source: Path, cohort: Cohort, parts: Split, out: Path) -> Path:
    """The ingested samples' VCF (bgzipped, tabix-indexed), made by `bcftools view -S`."""
    names = out.with_suffix(".samples.txt")
    names.write_text("".join(f"{cohort.samples[i]}\n" for i in parts.ingested))
    subprocess.run(
        [BCFTOOLS, "view", "-S", str(names), "-Oz", "-o", str(out), str(source)],
        check=True,
        capture_output=True,
    )
    subprocess.run([BCFTOOLS, "index", "-t", "-f", str(out)], check=True, capture_output=True)
    return out


def carried_rarest_first(cohort: Cohort, sample: int) -> list[int]:
    """The allele indexes `sample` carries, rarest (lowest reference AF) first."""
    mine = np.flatnonzero(cohort.carriers[:, sample])
    return sorted(mine.tolist(), key=lambda i: (cohort.alleles[i].af, i))


def true_carriers(cohort: Cohort, parts: Split) -> npt.NDArray[np.int64]:
    """Per allele, how many ingested samples carry it: the beacon's true carrier count."""
    ingested = np.array(parts.ingested)
    counts: npt.NDArray[np.int64] = cohort.carriers[:, ingested].sum(axis=1).astype(np.int64)
    return counts
