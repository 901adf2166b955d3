"""The disclosure policy (beacon.privacy) and the granularity it caps (beacon.results)."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import math
import random
from collections import Counter

import pytest

from beacon.auth import ANONYMOUS, Principal
from beacon.privacy import (
    COUNTED,
    NEGLIGIBLE_COST,
    Noise,
    Protection,
    ShownCount,
    absent_probability,
    disclose,
    f_min,
    gate_open,
    geometric_noise,
    noise_key,
    noisy,
    risk_cost,
    threshold,
    total_of,
    weight,
)
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


# The membership defences' pure functions (../shared/PRIVACY.md): the reference gate, the risk
# cost of a "yes", keyed count noise.

LN2 = math.log(2)


@pytest.mark.parametrize(
    ("frequencies", "expected"),
    [
        ([], 0.0),
        ([0.0], 0.0),
        ([-0.25], 0.0),  # a negative frequency is taken as 0
        ([0.5], LN2),
        ([0.5, 0.5], 2 * LN2),
        ([0.75, 0.5], 3 * LN2),
        ([1e-12], 1e-12),
        ([0.999999], -math.log(1e-6)),
        ([1.0], math.inf),
        ([1.5], math.inf),
        ([0.3, 1.0, 0.2], math.inf),
    ],
)
def test_weight(frequencies: list[float], expected: float) -> None:
    assert weight(frequencies) == pytest.approx(expected, rel=1e-9)
    assert weight(iter(frequencies)) == weight(frequencies)  # any iterable, read once


@pytest.mark.parametrize(
    ("frequencies", "samples", "expected"),
    [
        ([], 10, 1.0),  # no allele to match: "no" is certain
        ([0.5], 1, 0.25),
        ([0.5], 2, 0.0625),
        ([0.5, 0.5], 1, 0.0625),
        ([0.1], 1000, 0.9**2000),
        ([0.01, 0.02, 0.03], 50, (0.99 * 0.98 * 0.97) ** 100),
        ([1.0], 1, 0.0),  # an allele everyone has: "no" is impossible
        ([0.5], 0, 1.0),  # nobody in the dataset
        ([], 0, 1.0),
    ],
)
def test_absent_probability(frequencies: list[float], samples: int, expected: float) -> None:
    """D = prod (1-f)^(2N), whether built from weight() or directly."""
    assert absent_probability(weight(frequencies), samples) == pytest.approx(expected, rel=1e-9)


def exact_gate_frequency(samples: int, error: float) -> float:
    """The frequency at which one allele's (1-f)^(2N) is exactly e: the gate's true boundary."""
    return float(1 - error ** (1 / (2 * samples)))


GATES = [(n, e) for n in (1, 4, 50, 1000, 100_000) for e in (1e-6, 1e-3, 0.05, 0.5)]


@pytest.mark.parametrize(("samples", "error"), GATES)
def test_gate_open_at_its_boundary(samples: int, error: float) -> None:
    """One allele: closed just below (1-f)^(2N) = e, open at it and above; f_min (first order)
    is never below the true boundary, so a reference frequency of f_min is always answered."""
    boundary = exact_gate_frequency(samples, error)
    assert not gate_open(weight([boundary * (1 - 1e-6)]), samples, error)
    assert gate_open(weight([boundary * (1 + 1e-6)]), samples, error)
    assert gate_open(weight([min(f_min(samples, error), 1.0)]), samples, error)
    assert gate_open(weight([1.0]), samples, error)
    assert not gate_open(weight([]), samples, error)  # matches no reference allele
    assert not gate_open(weight([boundary * (1 - 1e-6)]), 0, error)  # an empty dataset


@pytest.mark.parametrize(("samples", "error"), GATES)
def test_gate_open_over_several_alleles(samples: int, error: float) -> None:
    """Several alleles open the gate together when their product is small enough: two alleles
    each making (1-f)^(2N) = sqrt(e) are answered, either alone is not (unless e >= 1)."""
    half = 1 - math.sqrt(error) ** (1 / (2 * samples))
    assert not gate_open(weight([half * (1 - 1e-6)]), samples, error)
    assert gate_open(weight([half * (1 + 1e-6)] * 2), samples, error)
    assert not gate_open(weight([half * (1 - 1e-6)] * 2), samples, error)


@pytest.mark.parametrize(
    ("samples", "error", "expected"),
    [
        (1000, 1e-3, 0.00345387764),  # PRIVACY.md: "f >= 0.35% at N = 1,000"
        (1, 1e-3, 3.45387764),  # first order: above 1 for a tiny dataset
        (4, 1e-3, 0.863469410),
        (50, 1e-3, 0.0690775528),
        (100_000, 1e-3, 0.0000345387764),
        (1000, 0.5, 0.000346573590),
        (0, 1e-3, math.inf),
    ],
)
def test_f_min(samples: int, error: float, expected: float) -> None:
    assert f_min(samples, error) == pytest.approx(expected, rel=1e-8)


@pytest.mark.parametrize(("samples", "error"), GATES)
def test_f_min_is_the_first_order_boundary(samples: int, error: float) -> None:
    """f_min = ln(1/e)/(2N) is at or above the true boundary 1 - e^(1/(2N)), by a factor of at
    most 1 + f_min: so an f below f_min (1 - f_min) is refused, and f_min is answered. (Close
    for real datasets, 0.2% at N = 1,000; not for tiny ones: at N = 4, 0.86 against 0.58.)"""
    boundary = exact_gate_frequency(samples, error)
    found = f_min(samples, error)
    assert boundary <= found <= boundary * (1 + found)
    assert not gate_open(weight([found * (1 - found) * (1 - 1e-6)]), samples, error)
    assert gate_open(weight([min(found, 1.0)]), samples, error)


@pytest.mark.parametrize(
    ("frequencies", "samples", "expected"),
    [
        ([1 - 0.25 ** (1 / 8)], 4, -math.log10(0.75)),  # D = 0.25
        ([0.5], 1, -math.log10(0.75)),
        ([0.5, 0.5], 1, -math.log10(1 - 0.0625)),
        ([0.0], 10, math.inf),  # D = 1: a "yes" says all there is
        ([], 10, math.inf),
        ([0.5], 0, math.inf),
        ([1.0], 10, 0.0),  # D = 0: a "yes" says nothing
        ([0.3], 1000, 0.0),  # D underflows: nothing to charge
    ],
)
def test_risk_cost(frequencies: list[float], samples: int, expected: float) -> None:
    assert risk_cost(weight(frequencies), samples) == pytest.approx(expected, rel=1e-9, abs=0)


def test_risk_cost_grows_as_alleles_get_rarer() -> None:
    costs = [risk_cost(weight([f]), 100) for f in (0.5, 0.05, 0.01, 0.005, 0.001, 1e-5)]
    assert costs == sorted(costs)
    assert len(set(costs)) == len(costs)
    assert costs[0] < NEGLIGIBLE_COST < costs[-1]


@pytest.mark.parametrize(
    ("p", "budget", "fits"),
    [(0.5, 0.3010300, 2), (0.1, 1.0, 8), (0.9, 0.0457575, 0)],
)
def test_protection_budget(p: float, budget: float, fits: int) -> None:
    """B = -log10(p); a carrier pays `fits` "yes" answers costing -log10(0.75) (D = 0.25)."""
    found = Protection(risk_p=p).budget
    assert found == pytest.approx(budget, rel=1e-5)
    assert math.floor(found / -math.log10(0.75)) == fits


def test_protection_defaults() -> None:
    """PRIVACY.md's measured settings: e = 1e-3, p = 0.5, epsilon 0.1 (0.5 reached power 0.14 at
    the count budget in bench/attack.py), 100 counts per release, counts behind a 1% frequency."""
    found = Protection()
    assert (found.gate, found.gate_error, found.noise, found.risk_p) == (True, 1e-3, True, 0.5)
    assert (found.count_epsilon, found.count_budget, found.count_min_frequency) == (0.1, 100, 0.01)


@pytest.mark.parametrize(
    ("minimum", "frequencies", "counted"),
    [
        (0.01, [0.01], True),
        (0.01, [0.0099], False),
        (0.01, [0.02], True),
        (0.01, [0.006, 0.006], True),  # several alleles weigh together
        (0.01, [0.004, 0.004], False),
        (0.01, [], False),
        (0.0, [], True),  # 0: every count answered
        (1.0, [0.999], False),
        (1.0, [1.0], True),
    ],
)
def test_count_weight(minimum: float, frequencies: list[float], counted: bool) -> None:
    """REGISTERED counts where the reference weight is at least one allele of the minimum's."""
    found = Protection(count_min_frequency=minimum).count_weight
    assert found == weight([minimum])
    assert (weight(frequencies) >= found) is counted


SECRET = bytes(range(32))


def test_noise_key() -> None:
    """An HMAC-SHA256 of the parts joined by a separator no part can fake."""
    key = noise_key(SECRET, "query", "dataset", "release", "total")
    assert key == hmac.new(SECRET, b"query\x1fdataset\x1frelease\x1ftotal", "sha256").digest()
    assert len(key) == 32
    assert noise_key(SECRET, "query", "dataset", "release", "total") == key
    others = [
        noise_key(bytes(32), "query", "dataset", "release", "total"),
        noise_key(SECRET, "query ", "dataset", "release", "total"),
        noise_key(SECRET, "query", "dataset2", "release", "total"),
        noise_key(SECRET, "query", "dataset", "release2", "total"),
        noise_key(SECRET, "query", "dataset", "release", "individuals"),
        noise_key(SECRET, "querydataset", "", "release", "total"),
        noise_key(SECRET, "query", "dataset", "release"),
    ]
    assert len({key, *others}) == 1 + len(others)


def keys_for(n: int) -> list[bytes]:
    return [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(n)]


def test_geometric_noise_is_a_function_of_its_key() -> None:
    for key in keys_for(200):
        draws = {geometric_noise(key, 0.5) for _ in range(3)}
        assert len(draws) == 1
        assert isinstance(draws.pop(), int)
    assert len({geometric_noise(key, 0.5) for key in keys_for(200)}) > 5
    # the extremes of the key space give finite draws
    assert geometric_noise(bytes(32), 0.5) == 0
    assert geometric_noise(bytes(8) + b"\xff" * 24, 0.5) > 60
    assert geometric_noise(b"\xff" * 8 + bytes(24), 0.5) < -60


@pytest.mark.parametrize("epsilon", [0.1, 0.5, 2.0])
def test_geometric_noise_distribution(epsilon: float) -> None:
    """Over many keys, P(x) = (1-a)/(1+a) a^|x| with a = exp(-epsilon): mean 0, P(0), symmetric,
    variance 2a/(1-a)^2."""
    draws = [geometric_noise(key, epsilon) for key in keys_for(40_000)]
    a = math.exp(-epsilon)
    n = len(draws)
    variance = 2 * a / (1 - a) ** 2
    mean = sum(draws) / n
    assert abs(mean) < 4 * math.sqrt(variance / n)
    seen = Counter(draws)
    for x in (0, 1, 2, 3):
        expected = (1 - a) / (1 + a) * a**x
        spread = 4 * math.sqrt(expected * (1 - expected) / n)
        assert seen[x] / n == pytest.approx(expected, abs=spread), x
        assert seen[-x] / n == pytest.approx(expected, abs=spread), -x
    empirical = sum((d - mean) ** 2 for d in draws) / (n - 1)
    assert empirical == pytest.approx(variance, rel=0.1)


@pytest.mark.parametrize("count", [-3, 0])
def test_noisy_zero_stays_zero(count: int) -> None:
    """Nothing found is shown as nothing found, unmarked: a boolean "no" says as much."""
    for key in keys_for(500):
        assert noisy(count, key, 0.5) == ShownCount(0)


@pytest.mark.parametrize("count", [1, 2, 5, 40])
def test_noisy_positive_stays_positive(count: int) -> None:
    """A count found stays at least 1 (it must not contradict `exists`), marked "noise"; and it
    is the count plus the key's noise otherwise."""
    shown = [noisy(count, key, 0.5) for key in keys_for(2000)]
    assert all(s.adjusted == ("noise",) and s.precision == "imprecise" for s in shown)
    assert min(s.value for s in shown) >= 1
    for key, s in zip(keys_for(2000), shown, strict=True):
        assert s.value == max(1, count + geometric_noise(key, 0.5))
    assert len({s.value for s in shown}) > 5


def noise_for(secret: bytes, datasets: str) -> Noise:
    return Noise(secret, '{"q": 1}', 0.5, frozenset(datasets.split()))


def test_disclose_adds_keyed_noise_then_the_threshold() -> None:
    """Noised datasets show threshold(noisy(count)), keyed by query, dataset, release and kind;
    the others the threshold alone; totals are sums of what is shown."""
    counts: Counts = {"a": (40, 30), "b": (2, 2), "c": (0, 0), "d": (12, None)}
    found = found_of(counts)
    for secret in keys_for(50):
        disclosure = disclose(
            found, principal=ANONYMOUS, requested=COUNT, ceiling=COUNT, k=5,
            noise=noise_for(secret, "a b c"),
        )  # fmt: skip
        for hits in disclosure.datasets:
            for kind, true in zip(COUNTED, counts[hits.dataset.id], strict=True):
                shown = disclosure.shown(hits, kind)
                if hits.dataset.id == "d":
                    expected = threshold(true or 0, 5)
                else:
                    key = noise_key(secret, '{"q": 1}', hits.dataset.id, "r1", kind)
                    noised = noisy(true or 0, key, 0.5)
                    expected = threshold(noised.value, 5, noised.adjusted)
                assert shown == expected, (hits.dataset.id, kind)
        for kind in COUNTED:
            parts = [disclosure.shown(h, kind) for h in disclosure.datasets]
            assert disclosure.total(kind) == total_of(parts, 1)
            assert "noise" in disclosure.total(kind).adjusted
        assert disclosure.shown(disclosure.datasets[2], "total") == ShownCount(0)
        assert disclosure.exists


def test_disclose_noise_is_the_same_for_the_same_query_only() -> None:
    found = found_of({"a": (40, 30)})

    def shown(secret: bytes, canonical: str) -> tuple[int, int]:
        noise = Noise(secret, canonical, 0.5, frozenset({"a"}))
        d = disclose(found, principal=ANONYMOUS, requested=COUNT, ceiling=COUNT, noise=noise)
        return d.shown(d.datasets[0], "total").value, d.shown(d.datasets[0], "individuals").value

    for secret in keys_for(20):
        assert shown(secret, "q1") == shown(secret, "q1")
    assert len({shown(secret, "q1") for secret in keys_for(40)}) > 5
    assert len({shown(SECRET, f"q{i}") for i in range(40)}) > 5
