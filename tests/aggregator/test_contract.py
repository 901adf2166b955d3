"""The fast member-answer check (beacon.aggregator.contract) agrees with schemas/member_answer.json.

Every field of real answers is replaced by values of every wrong (and right) kind; both must give
the same verdict, except where the fast check is deliberately stricter.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from beacon.aggregator.contract import MAX_COUNT, answer_problem
from beacon.results import Granularity
from tests.aggregator.support import member_answer_schema, node_body

REPLACEMENTS: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    2.5,
    MAX_COUNT,
    MAX_COUNT + 1,
    "",
    "x",
    "boolean",
    "count",
    "y" * 65,
    "z" * 257,
    [],
    ["threshold"],
    [1],
    ["a"] * 17,
    {},
    {"a": 1},
]


def bodies() -> list[dict[str, Any]]:
    counts = {"se-a": 3, "se-b": 0}
    found = [
        node_body("se.beacon", counts, asked=g) for g in Granularity
    ]  # boolean, count, record (with records)
    with_extras = copy.deepcopy(found[1])
    with_extras["responseSummary"].update(countAdjustedTo=["threshold"], countPrecision="imprecise")
    with_extras["response"]["resultSets"][0].update(
        beaconId="inner.beacon", countAdjustedTo=["threshold"], countPrecision="imprecise"
    )
    with_extras["info"] = {"members": []}
    return [*found, with_extras]


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path into a JSON value, records' insides excepted (the contract only needs objects)."""
    if prefix and prefix[-1] == "results":
        yield from ((*prefix, i) for i in range(len(value)))
        return
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, child in items:
        yield (*prefix, key)
        yield from paths(child, (*prefix, key))


def replaced(body: dict[str, Any], path: tuple[Any, ...], new: Any) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = new
    return changed


def removed(body: dict[str, Any], path: tuple[Any, ...]) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    target = changed
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return changed


def variants() -> Iterator[dict[str, Any]]:
    for body in bodies():
        yield body
        for path in paths(body):
            for new in REPLACEMENTS:
                yield replaced(body, path, new)
            yield removed(body, path)


def test_the_fast_check_agrees_with_the_schema() -> None:
    schema = member_answer_schema()
    checked = disagreements = 0
    for body in variants():
        checked += 1
        if (answer_problem(body) is None) != schema.is_valid(body):
            disagreements += 1
            print(answer_problem(body), list(schema.iter_errors(body))[:1])
    assert checked > 2000
    assert disagreements == 0


@pytest.mark.parametrize("where", ["numTotalResults", "resultsCount"])
def test_a_count_with_a_fraction_is_refused_though_the_schema_takes_it(where: str) -> None:
    body = node_body("se.beacon", {"se-a": 3}, asked=Granularity.COUNT)
    if where == "numTotalResults":
        body["responseSummary"]["numTotalResults"] = 3.0
    else:
        body["response"]["resultSets"][0]["resultsCount"] = 3.0
    assert member_answer_schema().is_valid(body)
    assert answer_problem(body) == (
        f"{'responseSummary' if where == 'numTotalResults' else 'response/resultSets/0'}/{where}: "
        f"not a whole number from 0 to {MAX_COUNT}"
    )


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ([], "meta: missing or not an object"),
        ({"meta": {}}, "responseSummary: missing or not an object"),
        (
            {"meta": {"beaconId": "b", "apiVersion": "v2", "returnedGranularity": "boolean"},
             "responseSummary": {"exists": "yes"}},
            "responseSummary/exists: missing or not true/false",
        ),
        (
            {"meta": {"beaconId": "b", "apiVersion": "v2", "returnedGranularity": ["count"]},
             "responseSummary": {"exists": True}},
            "meta/returnedGranularity: missing or not boolean, count or record",
        ),
    ],
)  # fmt: skip
def test_problems_name_the_field(body: Any, problem: str) -> None:
    if not isinstance(body, dict):
        body = {"meta": body}
    assert answer_problem(body) == problem
