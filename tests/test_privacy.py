"""The disclosure policy (beacon.privacy) and the granularity it caps (beacon.results)."""

from __future__ import annotations

import itertools
import random

import pytest

from beacon.auth import ANONYMOUS, Principal
from beacon.privacy import ShownCount, disclose, threshold, total_of
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
    assert (shown.requested, shown.granularity, shown.datasets) == (RECORD, RECORD, tuple(FOUND))
    assert shown.adjusted == {}  # k = 1: nothing hidden
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


# k-thresholds (beacon.privacy.threshold, total_of): no count in 1..k-1 shown, or derivable.

THRESHOLD = ("threshold",)
NO_COUNT = ("member gave no count",)


@pytest.mark.parametrize(
    ("count", "k", "value", "adjusted"),
    [
        (0, 1, 0, ()),
        (1, 1, 1, ()),
        (2, 1, 2, ()),
        (0, 5, 0, ()),
        (1, 5, 5, THRESHOLD),
        (4, 5, 5, THRESHOLD),
        (5, 5, 5, ()),
        (6, 5, 6, ()),
        (0, 10, 0, ()),
        (1, 10, 10, THRESHOLD),
        (9, 10, 10, THRESHOLD),
        (10, 10, 10, ()),
        (11, 10, 11, ()),
        (1_000_000, 10, 1_000_000, ()),
    ],
)
def test_threshold(count: int, k: int, value: int, adjusted: tuple[str, ...]) -> None:
    shown = threshold(count, k)
    assert shown == ShownCount(value, adjusted)
    assert shown.precision == ("imprecise" if adjusted else "exact")


@pytest.mark.parametrize(
    ("count", "k", "upstream", "expected"),
    [
        (3, 5, THRESHOLD, ShownCount(5, THRESHOLD)),
        (5, 5, THRESHOLD, ShownCount(5, THRESHOLD)),
        (7, 5, THRESHOLD, ShownCount(7, THRESHOLD)),
        (0, 5, NO_COUNT, ShownCount(0, NO_COUNT)),
        (3, 5, NO_COUNT, ShownCount(5, (*NO_COUNT, "threshold"))),
        (3, 5, ("threshold", "noise"), ShownCount(5, ("threshold", "noise"))),
        (3, 5, ("noise", "threshold"), ShownCount(5, ("noise", "threshold"))),
        (12, 5, ("noise",), ShownCount(12, ("noise",))),
        (1, 1, ("imprecise",), ShownCount(1, ("imprecise",))),
    ],
)
def test_threshold_keeps_upstream_adjustments_once(
    count: int, k: int, upstream: tuple[str, ...], expected: ShownCount
) -> None:
    shown = threshold(count, k, upstream)
    assert shown == expected
    assert shown.precision == "imprecise"


def exact(value: int) -> ShownCount:
    return ShownCount(value)


@pytest.mark.parametrize(
    ("parts", "k", "expected"),
    [
        ([], 5, ShownCount(0)),
        ([exact(0)], 5, ShownCount(0)),
        ([exact(0), exact(0), exact(0)], 5, ShownCount(0)),
        ([threshold(2, 5), threshold(2, 5)], 5, ShownCount(10, THRESHOLD)),
        ([threshold(2, 5), exact(0)], 5, ShownCount(5, THRESHOLD)),
        ([threshold(3, 5), threshold(7, 5)], 5, ShownCount(12, THRESHOLD)),
        ([threshold(4, 10), threshold(30, 10), exact(0)], 10, ShownCount(40, THRESHOLD)),
        ([threshold(10, 5), threshold(20, 5)], 5, ShownCount(30)),
        ([exact(250), exact(1000), exact(0)], 5, ShownCount(1250)),
        # parts from a member with a smaller k: their exact sum is itself thresholded
        ([exact(1), exact(2)], 5, ShownCount(5, THRESHOLD)),
        ([exact(1), exact(1)], 1, ShownCount(2)),
        (
            [ShownCount(5, NO_COUNT), threshold(1, 5), exact(6)],
            5,
            ShownCount(16, (*NO_COUNT, "threshold")),
        ),
        (
            [threshold(1, 5), ShownCount(5, NO_COUNT), ShownCount(5, (*NO_COUNT, "threshold"))],
            5,
            ShownCount(15, ("threshold", *NO_COUNT)),
        ),
        ([ShownCount(0, NO_COUNT), exact(1)], 5, ShownCount(5, (*NO_COUNT, "threshold"))),
    ],
)
def test_total_of(parts: list[ShownCount], k: int, expected: ShownCount) -> None:
    total = total_of(parts, k)
    assert total == expected
    assert total.precision == ("imprecise" if expected.adjusted else "exact")


@pytest.mark.parametrize("k", [2, 5, 11])
def test_total_never_reveals_a_suppressed_count(k: int) -> None:
    """Differencing: subtracting the exact parts from the total leaves only shown values.

    Whatever the suppressed true counts (1..k-1) are, the total is the same, so neither the total
    nor total minus the exact parts tells them apart.
    """
    rng = random.Random(k)
    for _ in range(500):
        true = [rng.choice([0, rng.randrange(1, k), rng.randrange(k, 3 * k)]) for _ in range(4)]
        shown = [threshold(count, k) for count in true]
        total = total_of(shown, k)
        exact_sum = sum(s.value for s in shown if s.precision == "exact")
        adjusted = [s for s in shown if s.adjusted]
        assert total.value - exact_sum == sum(s.value for s in adjusted) == k * len(adjusted)
        assert total.precision == ("imprecise" if adjusted else "exact")
        resampled = [rng.randrange(1, k) if 0 < count < k else count for count in true]
        assert total_of([threshold(count, k) for count in resampled], k) == total


# disclose(..., k=, exempt=): each dataset's counts, and the totals built from what is shown.


def hidden(value: int) -> ShownCount:
    return ShownCount(value, THRESHOLD)


Counts = dict[str, tuple[int, int | None]]
"""Per dataset: (matching alleles, carriers or None)."""


def found_of(counts: Counts) -> list[DatasetHits]:
    return [DatasetHits(dataset(d), total, (), n) for d, (total, n) in counts.items()]


@pytest.mark.parametrize(
    ("k", "exempt", "counts", "shown", "totals"),
    [
        (5, "", {"a": (0, 0)}, {"a": (exact(0), exact(0))}, (exact(0), exact(0))),
        (5, "", {"a": (1, 1)}, {"a": (hidden(5), hidden(5))}, (hidden(5), hidden(5))),
        (5, "", {"a": (4, 4)}, {"a": (hidden(5), hidden(5))}, (hidden(5), hidden(5))),
        (5, "", {"a": (5, 5)}, {"a": (exact(5), exact(5))}, (exact(5), exact(5))),
        (5, "", {"a": (6, 6)}, {"a": (exact(6), exact(6))}, (exact(6), exact(6))),
        (
            5, "", {"a": (2, 2), "b": (2, 2)},
            {"a": (hidden(5), hidden(5)), "b": (hidden(5), hidden(5))},
            (hidden(10), hidden(10)),
        ),
        (
            5, "", {"a": (2, 1), "b": (7, 9)},
            {"a": (hidden(5), hidden(5)), "b": (exact(7), exact(9))},
            (hidden(12), hidden(14)),
        ),
        (
            5, "", {"a": (0, 0), "b": (0, 0)},
            {"a": (exact(0), exact(0)), "b": (exact(0), exact(0))},
            (exact(0), exact(0)),
        ),
        # carriers unknown (None): shown as 0, nothing to hide
        (5, "", {"a": (3, None)}, {"a": (hidden(5), exact(0))}, (hidden(5), exact(0))),
        (2, "", {"a": (1, None)}, {"a": (hidden(2), exact(0))}, (hidden(2), exact(0))),
        (
            10, "", {"a": (9, 9), "b": (10, 10), "c": (11, 0)},
            {
                "a": (hidden(10), hidden(10)),
                "b": (exact(10), exact(10)),
                "c": (exact(11), exact(0)),
            },
            (hidden(31), hidden(20)),
        ),
        (
            1, "", {"a": (1, 1), "b": (2, None)},
            {"a": (exact(1), exact(1)), "b": (exact(2), exact(0))},
            (exact(3), exact(1)),
        ),
        # exempt: the caller's CONTROLLED datasets show their true counts ...
        (
            5, "a", {"a": (2, 1), "b": (3, 6)},
            {"a": (exact(2), exact(1)), "b": (hidden(5), exact(6))},
            (hidden(7), exact(7)),
        ),
        (
            5, "a", {"a": (7, 0), "b": (1, 0)},
            {"a": (exact(7), exact(0)), "b": (hidden(5), exact(0))},
            (hidden(12), exact(0)),
        ),
        (
            5, "a b", {"a": (3, 3), "b": (4, 4)},
            {"a": (exact(3), exact(3)), "b": (exact(4), exact(4))},
            (exact(7), exact(7)),
        ),
        # ... and so do totals made of them alone (every other part is 0 or at least k)
        (5, "a", {"a": (2, 2)}, {"a": (exact(2), exact(2))}, (exact(2), exact(2))),
        # an exempt id not found changes nothing
        (5, "z", {"a": (2, 2)}, {"a": (hidden(5), hidden(5))}, (hidden(5), hidden(5))),
    ],
)  # fmt: skip
def test_disclose_thresholds(
    k: int,
    exempt: str,
    counts: Counts,
    shown: dict[str, tuple[ShownCount, ShownCount]],
    totals: tuple[ShownCount, ShownCount],
) -> None:
    found = found_of(counts)
    for requested in Granularity:
        disclosure = disclose(
            found,
            principal=ANONYMOUS,
            requested=requested,
            ceiling=RECORD,
            k=k,
            exempt=frozenset(exempt.split()),
        )
        assert {
            h.dataset.id: (disclosure.shown(h, "total"), disclosure.shown(h, "individuals"))
            for h in disclosure.datasets
        } == shown
        assert (disclosure.total("total"), disclosure.total("individuals")) == totals
        assert disclosure.exists is any(total > 0 for total, _ in counts.values())
        assert [h.dataset.id for h in disclosure.datasets] == list(counts)


def test_disclose_keeps_record_pages_of_thresholded_datasets() -> None:
    """At record granularity the page is what was found: thresholds change counts only."""
    shown = disclose(FOUND, principal=ANONYMOUS, requested=RECORD, ceiling=RECORD, k=5)
    assert [hits.page for hits in shown.datasets] == [(HIT, HIT), (), (HIT,)]
    assert [shown.shown(h, "total") for h in shown.datasets] == [hidden(5), exact(0), hidden(5)]


@pytest.mark.parametrize("k", [2, 5, 11])
def test_disclose_never_reveals_a_hidden_count(k: int) -> None:
    """Random datasets, some exempt: the total minus every exact count shown is k per hidden
    one, whatever their true counts in 1..k-1; `exists` never changes."""
    rng = random.Random(k)
    for _ in range(300):
        true = {
            f"d{i}": rng.choice([0, rng.randrange(1, k), rng.randrange(k, 3 * k)])
            for i in range(rng.randrange(1, 5))
        }
        exempt = frozenset(d for d in true if rng.random() < 0.3)
        found = found_of({d: (n, n) for d, n in true.items()})
        disclosure = disclose(
            found, principal=ANONYMOUS, requested=COUNT, ceiling=COUNT, k=k, exempt=exempt
        )
        for kind in ("total", "individuals"):
            shown = {h.dataset.id: disclosure.shown(h, kind) for h in disclosure.datasets}
            hidden_ones = [d for d, n in true.items() if 0 < n < k and d not in exempt]
            assert [d for d, s in shown.items() if s.adjusted] == hidden_ones
            exact_sum = sum(s.value for s in shown.values() if not s.adjusted)
            total = disclosure.total(kind)
            if hidden_ones:
                assert total.value - exact_sum == k * len(hidden_ones)
                assert total.precision == "imprecise"
            assert total == total_of(list(shown.values()), 1)  # parts already thresholded
        assert disclosure.exists is any(true.values())
