"""Members' answers merged into one (beacon.aggregator.merge): thresholds at every level."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from beacon.aggregator.merge import (
    NO_COUNT,
    MemberSummary,
    Merged,
    MergedSet,
    inconsistency,
    merge,
)
from beacon.aggregator.outcomes import Answered, Failed, Outcome, Status
from beacon.aggregator.responses import network_answer
from beacon.config import BeaconInfo, Member, NetworkConfig, Settings
from beacon.node.responses import VARIANT_SCHEMA, Received
from beacon.privacy import ShownCount
from beacon.results import Granularity
from tests.aggregator.support import member_answer_schema, node_body

BOOLEAN, COUNT, RECORD = Granularity.BOOLEAN, Granularity.COUNT, Granularity.RECORD
THRESHOLD = ("threshold",)
SE = Member("se", "SE", "Sweden", "http://127.0.0.1:1/se")
FI = Member("fi", "FI", "Finland", "http://127.0.0.1:1/fi")
NO = Member("no", "NO", "Norway", "http://127.0.0.1:1/no")
NORDIC = Member("nordic", "DK", "Nordic network", "http://127.0.0.1:1/nordic")


def answered(member: Member, body: dict[str, Any], latency: float = 0.1) -> Answered:
    return Answered(member, body, latency)


def thresholded(k: int) -> ShownCount:
    """A shown value that a threshold changed (itself or one of its parts)."""
    return ShownCount(k, THRESHOLD)


def member_counts(merged: Merged) -> dict[str, ShownCount | None]:
    return {m.member.id: m.count for m in merged.members}


@pytest.mark.parametrize(
    ("counts", "k", "sets", "member", "total"),
    [
        ({"a": 4}, 5, [thresholded(5)], thresholded(5), thresholded(5)),
        ({"a": 5}, 5, [ShownCount(5)], ShownCount(5), ShownCount(5)),
        ({"a": 6}, 5, [ShownCount(6)], ShownCount(6), ShownCount(6)),
        ({"a": 0}, 5, [ShownCount(0)], ShownCount(0), ShownCount(0)),
        ({"a": 1}, 5, [thresholded(5)], thresholded(5), thresholded(5)),
        ({"a": 1}, 1, [ShownCount(1)], ShownCount(1), ShownCount(1)),
        ({"a": 9}, 10, [thresholded(10)], thresholded(10), thresholded(10)),
        ({"a": 10}, 10, [ShownCount(10)], ShownCount(10), ShownCount(10)),
        (
            {"a": 4, "b": 5, "c": 6, "d": 0},
            5,
            [thresholded(5), ShownCount(5), ShownCount(6), ShownCount(0)],
            thresholded(16),
            thresholded(16),
        ),
        (
            {"a": 2, "b": 2},
            5,
            [thresholded(5), thresholded(5)],
            thresholded(10),
            thresholded(10),
        ),
        ({"a": 20, "b": 30}, 5, [ShownCount(20), ShownCount(30)], ShownCount(50), ShownCount(50)),
    ],
)  # fmt: skip
def test_one_member_thresholds_per_dataset_member_and_network(
    counts: dict[str, int],
    k: int,
    sets: list[ShownCount],
    member: ShownCount,
    total: ShownCount,
) -> None:
    merged = merge([answered(SE, node_body("se.beacon", counts))], granularity=COUNT, k=k)
    assert [s.count for s in merged.sets] == sets
    assert [s.id for s in merged.sets] == list(counts)
    assert [s.exists for s in merged.sets] == [n > 0 for n in counts.values()]
    assert member_counts(merged) == {"se": member}
    assert merged.total == total
    assert merged.exists is any(counts.values())


@pytest.mark.parametrize(
    ("per_member", "k", "members", "total"),
    [
        ([4, 4], 5, [ShownCount(5, THRESHOLD)] * 2, ShownCount(10, THRESHOLD)),
        ([2, 2], 5, [ShownCount(5, THRESHOLD)] * 2, ShownCount(10, THRESHOLD)),
        ([5, 5], 5, [ShownCount(5)] * 2, ShownCount(10)),
        ([6, 6], 5, [ShownCount(6)] * 2, ShownCount(12)),
        ([4, 6], 5, [ShownCount(5, THRESHOLD), ShownCount(6)], ShownCount(11, THRESHOLD)),
        ([0, 4], 5, [ShownCount(0), ShownCount(5, THRESHOLD)], ShownCount(5, THRESHOLD)),
        ([0, 0], 5, [ShownCount(0)] * 2, ShownCount(0)),
        ([1, 2, 3], 5, [ShownCount(5, THRESHOLD)] * 3, ShownCount(15, THRESHOLD)),
        ([9, 10, 11], 10, [ShownCount(10, THRESHOLD), ShownCount(10), ShownCount(11)],
         ShownCount(31, THRESHOLD)),
    ],
)  # fmt: skip
def test_network_total_is_the_sum_of_shown_member_counts(
    per_member: list[int], k: int, members: list[ShownCount], total: ShownCount
) -> None:
    group = [SE, FI, NO][: len(per_member)]
    outcomes: list[Outcome] = [
        answered(m, node_body(f"{m.id}.beacon", {f"{m.id}-cohort": n}))
        for m, n in zip(group, per_member, strict=True)
    ]
    merged = merge(outcomes, granularity=COUNT, k=k)
    assert [m.count for m in merged.members] == members
    assert merged.total == total
    # the total minus every exact member count is exactly the shown adjusted ones
    exact = sum(c.value for c in members if not c.adjusted)
    assert merged.total is not None
    assert merged.total.value - exact == sum(c.value for c in members if c.adjusted)


def test_failures_are_listed_not_merged() -> None:
    timeout = Failed(FI, Status.TIMEOUT, 3.0, "no answer within 3.00 s")
    broken = Failed(NO, Status.HTTP_ERROR, 0.2, "HTTP 502", http_status=502)
    outcomes: list[Outcome] = [timeout, answered(SE, node_body("se.beacon", {"a": 7})), broken]
    merged = merge(outcomes, granularity=COUNT, k=5)
    assert merged.members[0] == MemberSummary(
        FI, Status.TIMEOUT, 3.0, detail="no answer within 3.00 s"
    )
    assert merged.members[2] == MemberSummary(
        NO, Status.HTTP_ERROR, 0.2, detail="HTTP 502", http_status=502
    )
    assert [m.member for m in merged.members] == [FI, SE, NO]
    assert [m.status for m in merged.members] == [Status.TIMEOUT, Status.OK, Status.HTTP_ERROR]
    assert {s.member for s in merged.sets} == {SE}
    assert merged.total == ShownCount(7)
    assert merged.exists is True


@pytest.mark.parametrize("granularity", list(Granularity))
def test_only_failures(granularity: Granularity) -> None:
    failures = [
        Failed(SE, Status.UNREACHABLE, 0.01, "connection refused"),
        Failed(FI, Status.CIRCUIT_OPEN, 0.0, "failed 5 times in a row; next try in 30 s"),
        Failed(NO, Status.INVALID_RESPONSE, 0.3, "a count answer without numTotalResults"),
    ]
    merged = merge([*failures], granularity=granularity, k=5)
    assert merged.exists is False
    assert merged.sets == ()
    assert merged.total == (ShownCount(0) if granularity >= COUNT else None)
    assert all(m.exists is None and m.count is None for m in merged.members)
    assert [(m.status, m.detail) for m in merged.members] == [
        (f.status, f.detail) for f in failures
    ]


@pytest.mark.parametrize(
    ("per_member", "exists"),
    [
        ([], False),
        ([0], False),
        ([0, 0, 0], False),
        ([0, 3, 0], True),
        ([0, 0, 12], True),
        ([1, 1, 1], True),
    ],
)
@pytest.mark.parametrize("granularity", list(Granularity))
def test_exists_when_any_member_says_so(
    per_member: list[int], exists: bool, granularity: Granularity
) -> None:
    group = [SE, FI, NO][: len(per_member)]
    outcomes: list[Outcome] = [
        answered(m, node_body(f"{m.id}.beacon", {"a": n}, asked=granularity))
        for m, n in zip(group, per_member, strict=True)
    ]
    merged = merge(outcomes, granularity=granularity, k=5)
    assert merged.exists is exists
    assert [m.exists for m in merged.members] == [n > 0 for n in per_member]
    assert merged.granularity is granularity


def test_boolean_asked_gives_no_counts_and_no_sets() -> None:
    outcomes: list[Outcome] = [
        answered(SE, node_body("se.beacon", {"a": 3}, asked=BOOLEAN)),
        answered(FI, node_body("fi.beacon", {"a": 3}, asked=COUNT)),  # more than asked: ignored
    ]
    merged = merge(outcomes, granularity=BOOLEAN, k=5)
    assert merged == Merged(
        BOOLEAN,
        True,
        None,
        (),
        (
            MemberSummary(SE, Status.OK, 0.1, beacon_id="se.beacon", exists=True),
            MemberSummary(FI, Status.OK, 0.1, beacon_id="fi.beacon", exists=True),
        ),
    )


@pytest.mark.parametrize(
    ("boolean_member", "k", "count"),
    [
        (0, 5, ShownCount(0)),
        (3, 5, ShownCount(5, (NO_COUNT,))),
        (300, 5, ShownCount(5, (NO_COUNT,))),
        (300, 10, ShownCount(10, (NO_COUNT,))),
    ],
)
@pytest.mark.parametrize("granularity", [COUNT, RECORD])
def test_member_answering_only_boolean(
    boolean_member: int, k: int, count: ShownCount, granularity: Granularity
) -> None:
    """A member capped at boolean stands in as k when it found something, else 0."""
    only_boolean = node_body("fi.beacon", {"a": boolean_member}, asked=granularity, ceiling=BOOLEAN)
    assert only_boolean["meta"]["returnedGranularity"] == "boolean"
    outcomes: list[Outcome] = [
        answered(SE, node_body("se.beacon", {"a": 12}, asked=granularity)),
        answered(FI, only_boolean),
    ]
    merged = merge(outcomes, granularity=granularity, k=k)
    assert member_counts(merged) == {"se": ShownCount(12), "fi": count}
    assert merged.total == ShownCount(12 + count.value, count.adjusted)
    assert {s.member for s in merged.sets} == {SE}
    assert merged.exists is True


@pytest.mark.parametrize(
    ("summary", "k", "count"),
    [
        ({"exists": True, "numTotalResults": 3}, 5, ShownCount(5, THRESHOLD)),
        ({"exists": True, "numTotalResults": 8}, 5, ShownCount(8)),
        ({"exists": False, "numTotalResults": 0}, 5, ShownCount(0)),
        (
            {"exists": True, "numTotalResults": 5, "countAdjustedTo": ["threshold"]},
            5,
            ShownCount(5, THRESHOLD),
        ),
        (
            {"exists": True, "numTotalResults": 8, "countPrecision": "imprecise"},
            5,
            ShownCount(8, ("imprecise",)),
        ),
        (
            {"exists": True, "numTotalResults": 8, "countPrecision": "exact"},
            5,
            ShownCount(8),
        ),
        (
            {"exists": True, "numTotalResults": 3, "countPrecision": "rounded"},
            5,
            ShownCount(5, ("rounded", "threshold")),
        ),
    ],
)
def test_member_count_from_summary_without_result_sets(
    summary: dict[str, Any], k: int, count: ShownCount
) -> None:
    body = node_body("se.beacon", {"a": 1})
    body["responseSummary"] = summary
    del body["response"]
    merged = merge([answered(SE, body)], granularity=COUNT, k=k)
    assert merged.sets == ()
    assert member_counts(merged) == {"se": count}
    assert merged.total == count


@pytest.mark.parametrize(
    ("upstream", "k", "count"),
    [
        ({}, 5, ShownCount(7)),
        ({"countPrecision": "exact"}, 5, ShownCount(7)),
        ({"countAdjustedTo": ["threshold"]}, 5, ShownCount(7, THRESHOLD)),
        ({"countPrecision": "imprecise"}, 5, ShownCount(7, ("imprecise",))),
        (
            {"countPrecision": "imprecise", "countAdjustedTo": ["threshold", "noise"]},
            5,
            ShownCount(7, ("threshold", "noise")),
        ),
        ({"countAdjustedTo": ["threshold"]}, 10, ShownCount(10, THRESHOLD)),
        ({"countAdjustedTo": ["noise"]}, 10, ShownCount(10, ("noise", "threshold"))),
    ],
)
def test_result_set_upstream_adjustments_kept(
    upstream: dict[str, Any], k: int, count: ShownCount
) -> None:
    body = node_body("se.beacon", {"a": 7})
    body["response"]["resultSets"][0].update(upstream)
    merged = merge([answered(SE, body)], granularity=COUNT, k=k)
    assert [s.count for s in merged.sets] == [count]
    assert member_counts(merged) == {"se": count}
    assert merged.total == count


def inner_aggregator(k: int, counts: dict[str, int]) -> dict[str, Any]:
    """A real network answer of an inner aggregator whose members are `se` and `fi`."""
    members = {"se": SE, "fi": FI}
    outcomes: list[Outcome] = [
        answered(members[m], node_body(f"{m}.beacon", {f"{m}-cohort": n}))
        for m, n in counts.items()
    ]
    network = NetworkConfig(members=tuple(members[m] for m in counts), k=k)
    settings = Settings(info=BeaconInfo(id="nordic.network"))
    params = {"requestedGranularity": "count", "includeResultsetResponses": "ALL"}
    merged = merge(outcomes, granularity=COUNT, k=k)
    body = network_answer(settings, network, Received.of(params, 10), merged, VARIANT_SCHEMA, 0.25)
    assert member_answer_schema().is_valid(body)
    assert inconsistency(body, COUNT) is None
    return body


@pytest.mark.parametrize(
    ("inner_k", "outer_k", "counts", "sets", "total"),
    [
        (5, 5, {"se": 3, "fi": 7}, [ShownCount(5, THRESHOLD), ShownCount(7)],
         ShownCount(12, THRESHOLD)),
        (5, 5, {"se": 6, "fi": 7}, [ShownCount(6), ShownCount(7)], ShownCount(13)),
        (5, 10, {"se": 3, "fi": 7}, [ShownCount(10, THRESHOLD), ShownCount(10, THRESHOLD)],
         ShownCount(20, THRESHOLD)),
        (10, 5, {"se": 3, "fi": 12}, [ShownCount(10, THRESHOLD), ShownCount(12)],
         ShownCount(22, THRESHOLD)),
        (5, 5, {"se": 0, "fi": 0}, [ShownCount(0), ShownCount(0)], ShownCount(0)),
    ],
)  # fmt: skip
def test_inner_aggregator(
    inner_k: int,
    outer_k: int,
    counts: dict[str, int],
    sets: list[ShownCount],
    total: ShownCount,
) -> None:
    inner = inner_aggregator(inner_k, counts)
    outcomes: list[Outcome] = [
        answered(NORDIC, inner),
        answered(NO, node_body("no.beacon", {"no-cohort": 0})),
    ]
    merged = merge(outcomes, granularity=COUNT, k=outer_k)
    nordic_sets = [s for s in merged.sets if s.member == NORDIC]
    assert [s.beacon_id for s in nordic_sets] == [f"{m}.beacon" for m in counts]
    assert [s.id for s in nordic_sets] == [f"{m}-cohort" for m in counts]
    assert [s.count for s in nordic_sets] == sets
    assert [(s.info["memberId"], s.info["country"]) for s in nordic_sets] == [("nordic", "DK")] * 2
    nordic = merged.members[0]
    assert nordic.beacon_id == "nordic.network"
    # The inner members' lines keep who they are and what they said, never a count.
    assert [line["id"] for line in nordic.nested] == list(counts)
    for line, raw in zip(nordic.nested, inner["info"]["members"], strict=True):
        assert line == {
            k: raw[k] for k in ("id", "country", "name", "beaconId", "status", "exists")
        }
    assert nordic.count == total
    assert merged.members[1].nested == ()
    assert merged.total == total


@pytest.mark.parametrize(
    ("info", "nested"),
    [
        ({}, ()),
        ({"members": []}, ()),
        ({"members": "se,fi"}, ()),
        ({"members": {"id": "se"}}, ()),
        ({"members": [{"id": "se"}, "fi", 3, None, {"id": "no"}]}, ({"id": "se"}, {"id": "no"})),
    ],
)
def test_nested_members_only_objects_passed_through(
    info: dict[str, Any], nested: tuple[dict[str, Any], ...]
) -> None:
    body = node_body("se.beacon", {"a": 7})
    body["info"] = info
    merged = merge([answered(SE, body)], granularity=COUNT, k=5)
    assert merged.members[0].nested == nested


@pytest.mark.parametrize(
    ("set_beacon_id", "kept"),
    [
        (None, "se.beacon"),
        ("", "se.beacon"),
        ("inner.beacon", "inner.beacon"),
    ],
)
def test_result_set_beacon_id(set_beacon_id: str | None, kept: str) -> None:
    body = node_body("se.beacon", {"a": 7, "b": 0})
    if set_beacon_id is not None:
        body["response"]["resultSets"][0]["beaconId"] = set_beacon_id
    merged = merge([answered(SE, body)], granularity=COUNT, k=5)
    assert [s.beacon_id for s in merged.sets] == [kept, "se.beacon"]


@pytest.mark.parametrize("granularity", [COUNT, RECORD])
def test_result_sets_stamped_with_member(granularity: Granularity) -> None:
    se_body = node_body("se.beacon", {"a": 7}, asked=granularity)
    fi_body = node_body("fi.beacon", {"b": 2}, asked=granularity)
    fi_body["response"]["resultSets"][0]["info"]["memberId"] = "spoofed"
    del se_body["response"]["resultSets"][0]["info"]
    outcomes: list[Outcome] = [answered(SE, se_body), answered(FI, fi_body)]
    merged = merge(outcomes, granularity=granularity, k=5)
    assert [s.info for s in merged.sets] == [
        {"memberId": "se", "country": "SE"},
        {"assemblyId": "GRCh37", "release": "r1", "memberId": "fi", "country": "FI"},
    ]
    assert [s.set_type for s in merged.sets] == ["dataset", "dataset"]


def test_records_passed_through_at_record_granularity() -> None:
    body = node_body("se.beacon", {"a": 7, "b": 1}, asked=RECORD)
    raw = body["response"]["resultSets"]
    assert [len(r["results"]) for r in raw] == [2, 1]
    merged = merge([answered(SE, body)], granularity=RECORD, k=5)
    assert [s.results for s in merged.sets] == [tuple(r["results"]) for r in raw]
    assert [s.count for s in merged.sets] == [ShownCount(7), ShownCount(5, THRESHOLD)]


def test_summary_carries_latency_cache_and_beacon_id() -> None:
    body = node_body("se.beacon", {"a": 7})
    outcomes: list[Outcome] = [Answered(SE, body, 0.0, cached=True), Answered(FI, body, 0.42)]
    merged = merge(outcomes, granularity=COUNT, k=5)
    assert [(m.latency, m.cached, m.beacon_id) for m in merged.members] == [
        (0.0, True, "se.beacon"),
        (0.42, False, "se.beacon"),
    ]
    assert all(m.status is Status.OK and m.detail == "" for m in merged.members)


def test_merge_does_not_change_member_bodies() -> None:
    """Bodies may be shared with the answer cache: merging must leave them as they were."""
    bodies = [
        node_body("se.beacon", {"a": 3, "b": 0}, asked=RECORD),
        inner_aggregator(5, {"se": 2, "fi": 9}),
    ]
    before = copy.deepcopy(bodies)
    merged = merge([answered(SE, bodies[0]), answered(NORDIC, bodies[1])], granularity=RECORD, k=5)
    assert bodies == before
    assert all(isinstance(s, MergedSet) for s in merged.sets)
    merged.sets[0].info["memberId"] = "changed"
    assert bodies == before


# inconsistency: schema-valid answers that still cannot be believed


def count_body(**summary: Any) -> dict[str, Any]:
    body = node_body("se.beacon", {"a": 3})
    body["responseSummary"] = summary
    return body


def with_set(body: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body["response"]["resultSets"][0].update(fields)
    return body


def returned(body: dict[str, Any], granularity: str) -> dict[str, Any]:
    body["meta"]["returnedGranularity"] = granularity
    return body


@pytest.mark.parametrize(
    ("body", "asked", "problem"),
    [
        (node_body("se.beacon", {"a": 3}), COUNT, None),
        (node_body("se.beacon", {"a": 0, "b": 0}), COUNT, None),
        (node_body("se.beacon", {"a": 3}, asked=BOOLEAN), BOOLEAN, None),
        (node_body("se.beacon", {"a": 0}, asked=BOOLEAN), BOOLEAN, None),
        (node_body("se.beacon", {"a": 3, "b": 0}, asked=RECORD), RECORD, None),
        (node_body("se.beacon", {"a": 3}, asked=RECORD, ceiling=COUNT), RECORD, None),
        (node_body("se.beacon", {"a": 3}, asked=COUNT, ceiling=BOOLEAN), COUNT, None),
        (inner_aggregator(5, {"se": 2, "fi": 0}), COUNT, None),
        (
            count_body(exists=True, numTotalResults=0),
            COUNT,
            "exists is true but numTotalResults is 0",
        ),
        (
            count_body(exists=False, numTotalResults=3),
            COUNT,
            "exists is false but numTotalResults is 3",
        ),
        (
            returned(count_body(exists=False, numTotalResults=3), "boolean"),
            COUNT,
            "exists is false but numTotalResults is 3",
        ),
        (
            with_set(node_body("se.beacon", {"a": 3}), exists=False),
            COUNT,
            "result set 'a': exists disagrees with resultsCount",
        ),
        (
            with_set(node_body("se.beacon", {"a": 0}), exists=True),
            COUNT,
            "result set 'a': exists disagrees with resultsCount",
        ),
        (
            with_set(count_body(exists=False, numTotalResults=0), exists=True, resultsCount=2),
            COUNT,
            "result sets add up to 2, more than numTotalResults 0",
        ),
        (
            with_set(count_body(exists=True, numTotalResults=1), exists=True, resultsCount=2),
            COUNT,
            "result sets add up to 2, more than numTotalResults 1",
        ),
        (
            returned(with_set(count_body(exists=False), exists=True, resultsCount=2), "boolean"),
            COUNT,
            "result set 'a' exists but the answer says it does not",
        ),
        (
            node_body("se.beacon", {"a": 3}, asked=COUNT),
            BOOLEAN,
            "answered count when asked for boolean",
        ),
        (
            node_body("se.beacon", {"a": 3}, asked=RECORD),
            COUNT,
            "answered record when asked for count",
        ),
        (
            node_body("se.beacon", {"a": 3}, asked=RECORD),
            BOOLEAN,
            "answered record when asked for boolean",
        ),
        (count_body(exists=True), COUNT, "a count answer without numTotalResults"),
        (count_body(exists=False), COUNT, "a count answer without numTotalResults"),
        (
            returned(count_body(exists=True), "record"),
            RECORD,
            "a count answer without numTotalResults",
        ),
    ],
)
def test_inconsistency(body: dict[str, Any], asked: Granularity, problem: str | None) -> None:
    assert member_answer_schema().is_valid(body)
    assert inconsistency(body, asked) == problem
