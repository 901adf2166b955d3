"""The disclosure policy (beacon.privacy) and the granularity it caps (beacon.results)."""

from __future__ import annotations

import itertools

import pytest

from beacon.auth import ANONYMOUS, Principal
from beacon.privacy import Disclosure, disclose
from beacon.query import sequence_allele
from beacon.results import AlleleCounts, DatasetHits, DatasetInfo, Granularity, VariantHit

BOOLEAN, COUNT, RECORD = Granularity.BOOLEAN, Granularity.COUNT, Granularity.RECORD


def dataset(name: str) -> DatasetInfo:
    return DatasetInfo(
        id=name,
        name=name.upper(),
        assembly="GRCh37",
        release="r1",
        collection=f"variants_{name}",
        samples=4,
        alleles=10,
        counts_source="genotypes",
    )


HIT = VariantHit(
    sequence_allele("MT", 54, "TATTTT", "CATTTT"),
    AlleleCounts(allele_count=3, allele_number=8, carriers=2, homozygous=1, heterozygous=1,
                 hemizygous=None),
    ("rs3883917",),
)  # fmt: skip
FOUND = [
    DatasetHits(dataset("a"), 3, (HIT, HIT), individuals=2, extra={"note": "x"}),
    DatasetHits(dataset("b"), 0, (), individuals=0),
    DatasetHits(dataset("c"), 1, (HIT,), individuals=None),
]
NO_PAGES = [
    DatasetHits(dataset("a"), 3, (), individuals=2, extra={"note": "x"}),
    DatasetHits(dataset("b"), 0, (), individuals=0),
    DatasetHits(dataset("c"), 1, (), individuals=None),
]


@pytest.mark.parametrize(
    ("requested", "ceiling", "returned"),
    [
        (BOOLEAN, BOOLEAN, BOOLEAN),
        (BOOLEAN, COUNT, BOOLEAN),
        (BOOLEAN, RECORD, BOOLEAN),
        (COUNT, BOOLEAN, BOOLEAN),
        (COUNT, COUNT, COUNT),
        (COUNT, RECORD, COUNT),
        (RECORD, BOOLEAN, BOOLEAN),
        (RECORD, COUNT, COUNT),
        (RECORD, RECORD, RECORD),
    ],
)
def test_granularity_capped(
    requested: Granularity, ceiling: Granularity, returned: Granularity
) -> None:
    shown = disclose(FOUND, principal=ANONYMOUS, requested=requested, ceiling=ceiling)
    assert (shown.requested, shown.granularity) == (requested, returned)


@pytest.mark.parametrize(
    ("requested", "ceiling", "datasets"),
    [
        (RECORD, RECORD, FOUND),
        (RECORD, COUNT, NO_PAGES),
        (RECORD, BOOLEAN, NO_PAGES),
        (COUNT, RECORD, NO_PAGES),
        (BOOLEAN, RECORD, NO_PAGES),
    ],
)
def test_record_pages_dropped_below_record(
    requested: Granularity, ceiling: Granularity, datasets: list[DatasetHits]
) -> None:
    shown = disclose(FOUND, principal=ANONYMOUS, requested=requested, ceiling=ceiling)
    assert shown.datasets == tuple(datasets)


def test_record_pages_kept_as_found() -> None:
    shown = disclose(FOUND, principal=Principal("alice"), requested=RECORD, ceiling=RECORD)
    assert shown == Disclosure(RECORD, RECORD, tuple(FOUND))
    assert [hits.page for hits in shown.datasets] == [(HIT, HIT), (), (HIT,)]


@pytest.mark.parametrize(
    ("totals", "exists"),
    [
        ([], False),
        ([0], False),
        ([0, 0], False),
        ([0, 1], True),
        ([5], True),
    ],
)
def test_exists(totals: list[int], exists: bool) -> None:
    found = [DatasetHits(dataset(f"d{i}"), total) for i, total in enumerate(totals)]
    for requested, ceiling in itertools.product(Granularity, repeat=2):
        shown = disclose(found, principal=ANONYMOUS, requested=requested, ceiling=ceiling)
        assert shown.exists is exists


def test_disclose_does_not_change_its_input() -> None:
    found = list(FOUND)
    disclose(found, principal=ANONYMOUS, requested=BOOLEAN, ceiling=BOOLEAN)
    assert found == FOUND
    assert found[0].page == (HIT, HIT)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("boolean", BOOLEAN),
        ("BOOLEAN", BOOLEAN),
        ("count", COUNT),
        ("Count", COUNT),
        ("record", RECORD),
    ],
)
def test_granularity_parse_and_label(text: str, expected: Granularity) -> None:
    assert Granularity.parse(text) is expected
    assert expected.label == text.lower()


def test_granularity_order() -> None:
    assert sorted([RECORD, BOOLEAN, COUNT]) == [BOOLEAN, COUNT, RECORD]
    assert min(RECORD, COUNT) is COUNT
