"""Simulated cohorts (beacon.simulate): one population split into national parts."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from beacon.simulate import (
    CohortPart,
    CohortSpec,
    sequence_length_for,
    write_cohort_parts,
    write_cohort_vcf,
)

SPEC = CohortSpec(samples=40, sequence_length=sequence_length_for(400, 40), seed=7)


def alleles(path: Path) -> tuple[list[str], dict[tuple[str, str, str, str], int]]:
    """Sample names, and every ALT allele with its count of called copies."""
    samples: list[str] = []
    found: dict[tuple[str, str, str, str], int] = {}
    with gzip.open(path, "rt") as text:
        for line in text:
            if line.startswith("#CHROM"):
                samples = line.rstrip("\n").split("\t")[9:]
            elif not line.startswith("#"):
                chrom, pos, _, ref, alt, *_, fmt = line.rstrip("\n").split("\t")[:9]
                calls = line.rstrip("\n").split("\t")[9:]
                assert fmt == "GT"
                for index, allele in enumerate(alt.split(","), start=1):
                    copies = sum(c.replace("|", "/").split("/").count(str(index)) for c in calls)
                    found[(chrom, pos, ref, allele)] = copies
    return samples, found


def test_parts_share_one_population(tmp_path: Path) -> None:
    parts = [
        CohortPart(tmp_path / "se.vcf.gz", 20, "SE"),
        CohortPart(tmp_path / "fi.vcf.gz", 15, "FI"),
        CohortPart(tmp_path / "es.vcf.gz", 5, "ES"),
    ]
    written = write_cohort_parts(SPEC, parts)
    whole = tmp_path / "whole.vcf.gz"
    write_cohort_vcf(SPEC, whole)

    read = [alleles(part.path) for part in parts]
    assert [len(samples) for samples, _ in read] == [20, 15, 5]
    assert all(
        all(name.startswith(part.sample_prefix) for name in samples)
        for part, (samples, _) in zip(parts, read, strict=True)
    )
    assert written == [len(found) for _, found in read]
    # The same alleles, spelled the same way: together the parts hold exactly the whole's.
    _, everyone = alleles(whole)
    union = set().union(*(found.keys() for _, found in read))
    assert union == set(everyone)
    # Common alleles are everywhere; rare ones belong to one part only.
    places = {key: sum(key in found for _, found in read) for key in union}
    assert sum(1 for n in places.values() if n == 3) > 20
    assert sum(1 for n in places.values() if n == 1) > 20
    # A part leaves out what none of its people carry (only missing calls can hide a copy).
    for _, found in read:
        assert sum(1 for copies in found.values() if copies == 0) <= 0.02 * len(found)


def test_parts_must_add_up(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="add up"):
        write_cohort_parts(SPEC, [CohortPart(tmp_path / "a.vcf.gz", 39)])
