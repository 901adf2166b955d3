"""The filters the store sends are answered from an index, never by scanning the collection.

SecantusDB plans no `$or`/`$and` with indexes, so `query_filters` keeps every filter flat; these
tests ask the server itself (`explain`) which plan won, on the real CINECA chr22 release.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from beacon.query import parse_query
from beacon.store.mongo import INDEX_NAME, query_filters

MAX_SPAN = 5_000_000

# Each query with how many documents each of its filters returns (they over-select on purpose).
QUERIES = {
    "sequence-wildcard": (
        {"referenceName": "22", "start": [16050074], "referenceBases": "A", "alternateBases": "N"},
        [1],
    ),
    "range": ({"referenceName": "22", "start": [16050000], "end": [16060000]}, [361, 4]),
    "bracket": (
        {"referenceName": "22", "start": [16050000, 16050700], "end": [16063000, 16064000]},
        [13, 4],
    ),
}
ID_STAGES = {"IDHACK", "EXPRESS_IXSCAN", "EXPRESS_CLUSTERED_IXSCAN"}


def stages(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every stage of an explain plan tree, root first."""
    yield plan
    for child in (plan.get("inputStage"), *plan.get("inputStages", ())):
        if child:
            yield from stages(child)


@pytest.mark.parametrize("name", QUERIES)
async def test_query_filters_are_answered_from_the_index(cineca_release, name):
    params, returned = QUERIES[name]
    query = parse_query(params, max_span=MAX_SPAN)
    assert query.exact_key is None
    filters = query_filters(query)
    assert len(filters) == len(returned)

    for flt, expected in zip(filters, returned, strict=True):
        explained = await cineca_release.find(flt).explain()
        plan = list(stages(explained["queryPlanner"]["winningPlan"]))
        assert "COLLSCAN" not in {stage["stage"] for stage in plan}, (flt, plan)
        assert [s.get("indexName") for s in plan if s["stage"] == "IXSCAN"] == [INDEX_NAME], plan
        stats = explained["executionStats"]
        # Tight index bounds: every fetched document is one the filter asked for.
        assert (stats["nReturned"], stats["totalDocsExamined"]) == (expected, expected), flt


async def test_exact_sequence_query_is_an_id_lookup(cineca_release):
    params = {
        "referenceName": "22",
        "start": [16050074],
        "referenceBases": "A",
        "alternateBases": "G",
    }
    key = parse_query(params, max_span=MAX_SPAN).exact_key
    assert key == "22_16050074_A_G"

    explained = await cineca_release.find({"_id": key}, limit=1).explain()
    plan = list(stages(explained["queryPlanner"]["winningPlan"]))
    names = {stage["stage"] for stage in plan}
    assert "COLLSCAN" not in names, plan
    by_id = [s for s in plan if s["stage"] == "IXSCAN" and s.get("indexName") == "_id_"]
    assert names & ID_STAGES or by_id, plan
    assert explained["executionStats"]["nReturned"] == 1
