"""The aggregator as a network: credentials, circuit breakers, the answer cache, nesting,
dataset routing, bad input, config reload, framework endpoints and /individuals.

Members are real nodes on 127.0.0.1 (tiny VCFs), most behind a `Recorder` that logs what each
received and can make its queries fail; hand-written apps where a member must hold a query
until told, or answer counts without result sets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV31SpecValidator

from beacon.config import BeaconInfo, Member, Secret
from beacon.results import Granularity
from tests.aggregator.conftest import (
    COUNT,
    FI_ROWS,
    RANGE,
    SAMPLES,
    SE_ROWS,
    AggregatorFactory,
    FileAggregatorFactory,
    NodeFactory,
    RecordedNode,
    RecordedNodeFactory,
    Serve,
    rows,
    url_of,
)
from tests.aggregator.support import eventually, everywhere, get, member_lines, rewrite, toml
from tests.node.test_framework import FRAMEWORK as NODE_FRAMEWORK
from tests.official_schemas import assert_valid, assert_valid_answer

DE_ROWS = rows(3)


def _post_body(granularity: str = "count", **variant: Any) -> dict[str, Any]:
    variant = variant or {"referenceName": "22", "start": [0], "end": [1000]}
    query = {"requestParameters": variant, "requestedGranularity": granularity}
    return {"meta": {"apiVersion": "v2.0.0"}, "query": query}


async def _two(recorded_node: RecordedNodeFactory) -> tuple[RecordedNode, RecordedNode]:
    return (
        await recorded_node("se", SE_ROWS, SAMPLES),
        await recorded_node("fi", FI_ROWS, SAMPLES),
    )


def _members(se: RecordedNode, fi: RecordedNode, **kw: Any) -> list[Member]:
    return [Member("se", "SE", "Sweden", se.url, **kw), Member("fi", "FI", "Finland", fi.url)]


# --- credentials -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("member_token", "network_token", "sent"),
    [
        pytest.param(None, None, None, id="no-token"),
        pytest.param("agg-token", None, "Bearer agg-token", id="member-token"),
        pytest.param(None, "net-token", "Bearer net-token", id="network-token"),
        pytest.param("agg-token", "net-token", "Bearer agg-token", id="member-token-wins"),
    ],
)
async def test_callers_authorization_never_reaches_members(
    recorded_node: RecordedNodeFactory,
    aggregator: AggregatorFactory,
    member_token: str | None,
    network_token: str | None,
    sent: str | None,
) -> None:
    se = await recorded_node("se", SE_ROWS, SAMPLES)
    token = Secret(member_token) if member_token else None
    network = Secret(network_token) if network_token else None
    client = await aggregator([Member("se", "SE", "Sweden", se.url, token=token)], token=network)
    caller = {"Authorization": "Bearer caller-secret", "Cookie": "session=caller-cookie"}
    await get(client, params=COUNT, headers=caller)
    await get(client, params=RANGE, headers=caller)  # another entry in the cache: asked again
    response = await client.post("/individuals", json=_post_body(), headers=caller)
    assert response.status == 200
    await get(client, "/g_variants/22_99_A_G", headers=caller)

    assert len(se.recorder.queries()) == 4
    paths = {path for path, _ in se.recorder.requests}
    assert {"/info", "/datasets", "/g_variants", "/individuals"} <= paths
    for path, headers in se.recorder.requests:  # the refreshes too, not only the queries
        assert headers.get("Authorization") == sent, path
        assert "caller-secret" not in str(headers) and "caller-cookie" not in str(headers)
        assert headers["User-Agent"].startswith("beacon-aggregator/")


@pytest.mark.parametrize(
    ("given", "forwarded"),
    [
        pytest.param("req-42.a_b", "req-42.a_b", id="well-formed"),
        pytest.param("has spaces; and=more", None, id="malformed"),
        pytest.param(None, None, id="none"),
    ],
)
async def test_request_id_follows_the_query_to_members(
    recorded_node: RecordedNodeFactory,
    aggregator: AggregatorFactory,
    given: str | None,
    forwarded: str | None,
) -> None:
    """Members see the aggregator's request id: the caller's when well-formed, else its own."""
    se = await recorded_node("se", SE_ROWS, SAMPLES)
    client = await aggregator([Member("se", "SE", "Sweden", se.url)])
    response = await client.get(
        "/g_variants", params=COUNT, headers={"X-Request-ID": given} if given else {}
    )
    assert response.status == 200
    own = response.headers["X-Request-ID"]
    if forwarded:
        assert own == forwarded
    else:
        assert re.fullmatch("[0-9a-f]{32}", own), own
    [received] = se.recorder.queries()
    assert received["X-Request-ID"] == own


# --- circuit breaker -------------------------------------------------------------------------


async def test_circuit_breaker_opens_then_probes_and_closes(
    recorded_node: RecordedNodeFactory, aggregator: AggregatorFactory
) -> None:
    se, fi = await _two(recorded_node)
    client = await aggregator(
        _members(se, fi), failures_to_open=2, probe_after=0.3, cache_entries=0, deadline=1.0
    )

    async def ask() -> dict[str, Any]:
        body = await get(client, params=COUNT)
        assert member_lines(body)["fi"]["status"] == "ok"  # the other member is never affected
        assert body["responseSummary"]["exists"] is True
        return member_lines(body)["se"]

    async def health() -> dict[str, Any]:
        members: list[dict[str, Any]] = (await get(client, "/health"))["members"]
        return members[0]

    se.recorder.failing = True
    for hits in (1, 2):
        line = await ask()
        assert (line["status"], line["httpStatus"]) == ("http_error", 503)
        assert len(se.recorder.queries()) == hits
    assert (await health())["circuitOpen"] is True
    assert (await health())["consecutiveFailures"] == 2

    started = time.monotonic()
    for _ in range(3):
        line = await ask()
        assert line["status"] == "circuit_open"
        assert line["detail"].startswith("failed 2 times in a row")
        assert "httpStatus" not in line and "count" not in line
    assert time.monotonic() - started < 0.3
    assert len(se.recorder.queries()) == 2  # not contacted while open

    await asyncio.sleep(0.35)
    assert (await ask())["status"] == "http_error"  # the probe, still failing: open again
    assert len(se.recorder.queries()) == 3
    assert (await ask())["status"] == "circuit_open"
    assert len(se.recorder.queries()) == 3

    se.recorder.failing = False
    assert (await ask())["status"] == "circuit_open"  # recovered, but not probed yet
    await asyncio.sleep(0.35)
    for hits in (4, 5):
        line = await ask()
        assert (line["status"], line["count"]) == ("ok", 6)
        assert len(se.recorder.queries()) == hits
    assert (await health())["circuitOpen"] is False
    assert (await health())["consecutiveFailures"] == 0


# --- cache -----------------------------------------------------------------------------------


async def test_same_query_again_is_answered_from_the_cache(
    recorded_node: RecordedNodeFactory, aggregator: AggregatorFactory
) -> None:
    se, fi = await _two(recorded_node)
    client = await aggregator(_members(se, fi))
    first = await get(client, params=COUNT)
    assert [line["cached"] for line in first["info"]["members"]] == [False, False]
    second = await get(client, params=COUNT)
    assert [line["cached"] for line in second["info"]["members"]] == [True, True]
    assert [line["latencyMs"] for line in second["info"]["members"]] == [0.0, 0.0]
    assert len(se.recorder.queries()) == len(fi.recorder.queries()) == 1
    assert second["responseSummary"] == first["responseSummary"]
    assert second["response"] == first["response"]
    assert member_lines(second)["se"]["count"] == 6
    assert_valid_answer(second)


@pytest.mark.parametrize(
    ("request_kw", "cached"),
    [
        pytest.param({"params": {**COUNT, "assemblyId": "GRCh37"}}, True, id="same"),
        pytest.param(
            {"params": {**COUNT, "referenceName": "chr22", "assemblyId": "hg19"}}, True, id="chr22"
        ),
        pytest.param({"params": {**COUNT, "assemblyId": "grch37"}}, True, id="grch37"),
        pytest.param(
            {"json": _post_body(referenceName="22", start=[0], end=[1000], assemblyId="GRCh37")},
            True,
            id="post",
        ),
        pytest.param(
            {"params": {**COUNT, "assemblyId": "GRCh37", "requestedGranularity": "boolean"}},
            False,
            id="boolean",
        ),
        pytest.param({"params": {**COUNT, "assemblyId": "GRCh37", "end": "999"}}, False, id="end"),
        pytest.param({"params": {**COUNT, "assemblyId": "GRCh38"}}, False, id="grch38"),
    ],
)
async def test_cache_is_keyed_by_the_canonical_query(
    recorded_node: RecordedNodeFactory,
    aggregator: AggregatorFactory,
    request_kw: dict[str, Any],
    cached: bool,
) -> None:
    """Spellings of one query share an entry; another granularity or query does not."""
    se = await recorded_node("se", SE_ROWS, SAMPLES)
    client = await aggregator([Member("se", "SE", "Sweden", se.url)])
    await get(client, params={**COUNT, "assemblyId": "GRCh37"})
    method = "POST" if "json" in request_kw else "GET"
    response = await client.request(method, "/g_variants", **request_kw)
    body = await response.json()
    assert response.status == 200, body
    assert member_lines(body)["se"]["status"] == "ok"
    assert member_lines(body)["se"]["cached"] is cached
    assert len(se.recorder.queries()) == (1 if cached else 2)


async def test_a_reingest_is_never_served_from_the_cache(
    recorded_node: RecordedNodeFactory, aggregator: AggregatorFactory
) -> None:
    se, fi = await _two(recorded_node)
    client = await aggregator(_members(se, fi), versions_max_age=0.0)

    async def se_line() -> dict[str, Any]:
        body = await get(client, params=COUNT)
        assert_valid_answer(body)
        return member_lines(body)["se"]

    assert [(line["cached"], line["count"]) for line in [await se_line(), await se_line()]] == [
        (False, 6),
        (True, 6),
    ]
    await se.ingest(rows(8))  # a new release of se-cohort: eight alleles in the range
    assert [(line["cached"], line["count"]) for line in [await se_line(), await se_line()]] == [
        (False, 8),
        (True, 8),
    ]
    await se.ingest(rows(2, first=5000))  # nothing left in the range
    line = await se_line()
    assert (line["cached"], line["exists"], line["count"]) == (False, False, 0)
    assert len(se.recorder.queries()) == 3
    assert len(fi.recorder.queries()) == 1  # fi did not change: still answered from the cache


# --- an aggregator as a member ---------------------------------------------------------------


@pytest.mark.parametrize("granularity", ["boolean", "count", "record"])
async def test_an_aggregator_as_a_member(
    national_node: NodeFactory, aggregator: AggregatorFactory, granularity: str
) -> None:
    se = await national_node("se", SE_ROWS, SAMPLES)
    fi = await national_node("fi", FI_ROWS, SAMPLES)
    de = await national_node("de", DE_ROWS, SAMPLES)
    inner = await aggregator(
        [Member("se", "SE", "Sweden", se), Member("fi", "FI", "Finland", fi)],
        info=BeaconInfo(id="nordic.network", name="Nordic network"),
        max_granularity=Granularity.RECORD,
    )
    outer = await aggregator(
        [Member("nordic", "SE", "Nordic", url_of(inner)), Member("de", "DE", "Germany", de)],
        max_granularity=Granularity.RECORD,
    )
    body = await get(outer, params={**RANGE, "requestedGranularity": granularity})
    assert_valid_answer(body)
    assert body["meta"]["beaconId"] == "eu.network"
    assert body["meta"]["returnedGranularity"] == granularity
    lines = member_lines(body)
    nordic = lines["nordic"]
    assert (nordic["status"], nordic["beaconId"], nordic["exists"]) == (
        "ok",
        "nordic.network",
        True,
    )
    assert [(m["id"], m["status"], m["beaconId"]) for m in nordic["members"]] == [
        ("se", "ok", "se.beacon"),
        ("fi", "ok", "fi.beacon"),
    ]
    assert lines["de"]["status"] == "ok" and "members" not in lines["de"]
    assert body["info"]["network"]["membersTotal"] == 2
    if granularity == "boolean":
        assert "response" not in body and "count" not in nordic
        return
    assert (nordic["count"], nordic["countAdjustedTo"]) == (11, ["threshold"])
    # Inner members' lines carry no counts: beside the datasets' own they could be differenced.
    assert [sorted(m) for m in nordic["members"]] == [
        ["beaconId", "country", "exists", "id", "name", "status"]
    ] * 2
    assert (lines["de"]["count"], lines["de"]["countAdjustedTo"]) == (5, ["threshold"])
    summary = body["responseSummary"]
    assert (summary["numTotalResults"], summary["countAdjustedTo"]) == (16, ["threshold"])
    sets = body["response"]["resultSets"]
    assert [(s["id"], s["beaconId"], s["info"]["memberId"], s["resultsCount"]) for s in sets] == [
        ("se-cohort", "se.beacon", "nordic", 6),
        ("fi-cohort", "fi.beacon", "nordic", 5),
        ("de-cohort", "de.beacon", "de", 5),
    ]
    assert [s["countPrecision"] for s in sets] == ["exact", "imprecise", "imprecise"]
    assert [len(s["results"]) for s in sets] == (
        [6, 2, 3] if granularity == "record" else [0, 0, 0]
    )


def _count_only(found: int) -> web.Application:
    """A member answering counts without result sets (allowed by member_answer.json)."""
    meta = {"beaconId": "count.beacon", "apiVersion": "v2.0.0", "returnedGranularity": "count"}

    async def handler(request: web.Request) -> web.Response:
        if request.path == "/datasets":
            collections = [{"id": "count-ds", "name": "count-ds", "version": "r1"}]
            return web.json_response({"meta": meta, "response": {"collections": collections}})
        summary = {"exists": found > 0, "numTotalResults": found}
        return web.json_response({"meta": meta, "responseSummary": summary})

    return everywhere(handler)


@pytest.mark.parametrize(
    ("rows", "inner_total"),
    [
        pytest.param(SE_ROWS, 13, id="se-finds-6"),
        pytest.param(rows(2, first=5000), 7, id="se-finds-none"),
    ],
)
async def test_an_inner_aggregator_with_a_count_only_member_is_counted_whole(
    national_node: NodeFactory,
    serve: Serve,
    aggregator: AggregatorFactory,
    rows: list[str],
    inner_total: int,
) -> None:
    """The inner network's total includes a member that gives no result sets (7 found); the
    outer answer must carry that total, not only the sum of the result sets it can see."""
    se = await national_node("se", rows, SAMPLES)
    counter = await serve(_count_only(7))
    inner = await aggregator(
        [Member("se", "SE", "Sweden", se), Member("counter", "NO", "Norway", counter)],
        info=BeaconInfo(id="nordic.network", name="Nordic network"),
    )
    inner_body = await get(inner, params=COUNT)
    assert inner_body["responseSummary"]["numTotalResults"] == inner_total
    outer = await aggregator([Member("nordic", "SE", "Nordic", url_of(inner))])
    body = await get(outer, params=COUNT)
    assert_valid_answer(body)
    nordic = member_lines(body)["nordic"]
    assert (nordic["status"], nordic["exists"]) == ("ok", True)
    assert nordic["count"] == inner_total  # today: only the result sets' 6 (or 0)
    summary = body["responseSummary"]
    assert summary["exists"] is (summary["numTotalResults"] > 0)
    assert summary["numTotalResults"] == inner_total


async def test_a_leaf_reingest_is_never_served_stale_through_an_inner_aggregator(
    recorded_node: RecordedNodeFactory, aggregator: AggregatorFactory
) -> None:
    """versions_max_age=0 at both levels: a new release at the leaf shows at once."""
    se = await recorded_node("se", SE_ROWS, SAMPLES)
    inner = await aggregator(
        [Member("se", "SE", "Sweden", se.url)],
        info=BeaconInfo(id="nordic.network", name="Nordic network"),
        versions_max_age=0.0,
    )
    outer = await aggregator(
        [Member("nordic", "SE", "Nordic", url_of(inner))], versions_max_age=0.0
    )

    async def nordic() -> tuple[bool, int]:
        line = member_lines(await get(outer, params=COUNT))["nordic"]
        return line["cached"], line["count"]

    assert [await nordic(), await nordic()] == [(False, 6), (True, 6)]
    await se.ingest(rows(8))
    assert await nordic() == (False, 8)  # today: (True, 6) until the inner's next refresh


# --- datasetIds --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "wanted", "statuses", "sets"),
    [
        pytest.param("GET", ["se-cohort"], ("ok", "not_queried"), ["se-cohort"], id="get-se"),
        pytest.param("POST", ["fi-cohort"], ("not_queried", "ok"), ["fi-cohort"], id="post-fi"),
        pytest.param(
            "GET", ["fi-cohort", "se-cohort"], ("ok", "ok"), ["se-cohort", "fi-cohort"], id="both"
        ),
    ],
)
async def test_dataset_ids_route_to_the_members_holding_them(
    recorded_node: RecordedNodeFactory,
    aggregator: AggregatorFactory,
    method: str,
    wanted: list[str],
    statuses: tuple[str, str],
    sets: list[str],
) -> None:
    se, fi = await _two(recorded_node)
    client = await aggregator(_members(se, fi))
    if method == "GET":
        response = await client.get("/g_variants", params={**COUNT, "datasetIds": ",".join(wanted)})
    else:
        variant: dict[str, Any] = {"referenceName": "22", "start": [0], "end": [1000]}
        body = _post_body(**variant, datasets={"datasetIds": wanted})
        response = await client.post("/g_variants", json=body)
    body = await response.json()
    assert response.status == 200, body
    assert_valid_answer(body)
    lines = member_lines(body)
    assert (lines["se"]["status"], lines["fi"]["status"]) == statuses
    for member_id, status in zip(("se", "fi"), statuses, strict=True):
        node = se if member_id == "se" else fi
        assert len(node.recorder.queries()) == (status == "ok")
        if status == "not_queried":
            assert lines[member_id]["detail"] == "has none of the requested datasets"
            assert "count" not in lines[member_id]
    assert [s["id"] for s in body["response"]["resultSets"]] == sets
    shown = {"se-cohort": 6, "fi-cohort": 5}
    assert body["responseSummary"]["numTotalResults"] == sum(shown[s] for s in sets)


@pytest.mark.parametrize("wanted", ["nope", "se-cohort,nope"])
async def test_a_dataset_id_no_member_has_is_a_400(
    recorded_node: RecordedNodeFactory, aggregator: AggregatorFactory, wanted: str
) -> None:
    se, fi = await _two(recorded_node)
    client = await aggregator(_members(se, fi))
    response = await client.get("/g_variants", params={**COUNT, "datasetIds": wanted})
    body = await response.json()
    assert response.status == 400
    assert_valid("error", body)
    assert body["error"]["errorCode"] == 400
    assert body["error"]["errorMessage"] == "unknown dataset id(s): nope"
    assert se.recorder.queries() == fi.recorder.queries() == []


# --- bad input -------------------------------------------------------------------------------

BAD_INPUT = [
    pytest.param("GET", "/g_variants", {"params": {"referenceName": "22"}}, 400, id="no-start"),
    pytest.param("GET", "/individuals", {"params": {"start": "5"}}, 400, id="no-reference"),
    pytest.param("GET", "/g_variants", {"params": {**RANGE, "start": "x"}}, 400, id="start-x"),
    pytest.param("GET", "/g_variants", {"params": {**RANGE, "colour": "red"}}, 400, id="unknown"),
    pytest.param(
        "GET", "/g_variants", {"params": {**RANGE, "end": "900000000"}}, 400, id="span-too-long"
    ),
    pytest.param(
        "GET",
        "/g_variants",
        {"params": {**RANGE, "requestedGranularity": "everything"}},
        400,
        id="granularity",
    ),
    pytest.param(
        "POST",
        "/g_variants",
        {"data": b'{"query": ', "headers": {"Content-Type": "application/json"}},
        400,
        id="bad-json",
    ),
    pytest.param("POST", "/individuals", {"json": [1, 2]}, 400, id="json-array"),
    pytest.param(
        "POST", "/g_variants", {"json": {**_post_body(), "extra": 1}}, 400, id="unknown-field"
    ),
    pytest.param(
        "POST",
        "/g_variants",
        {"data": b"referenceName=22", "headers": {"Content-Type": "text/plain"}},
        415,
        id="not-json-type",
    ),
    pytest.param("GET", "/g_variants/not%20an%20id", {}, 400, id="malformed-variant-id"),
    pytest.param(
        "GET",
        "/g_variants/22_99_A_G",
        {"params": {"referenceName": "22"}},
        400,
        id="variant-params",
    ),
]


@pytest.mark.parametrize(("method", "path", "request_kw", "status"), BAD_INPUT)
async def test_bad_input_is_refused_before_any_member_is_asked(
    recorded_node: RecordedNodeFactory,
    aggregator: AggregatorFactory,
    method: str,
    path: str,
    request_kw: dict[str, Any],
    status: int,
) -> None:
    se, fi = await _two(recorded_node)
    client = await aggregator(_members(se, fi))
    response = await client.request(method, path, **request_kw)
    body = await response.json()
    assert response.status == status, body
    assert_valid("error", body)
    assert body["error"]["errorCode"] == status
    assert body["meta"]["beaconId"] == "eu.network"
    assert "Traceback" not in body["error"]["errorMessage"]
    assert se.recorder.queries() == fi.recorder.queries() == []


# --- config reload ---------------------------------------------------------------------------


async def _member_ids(client: Any) -> list[str]:
    return [line["id"] for line in (await get(client, params=COUNT))["info"]["members"]]


def _logged(caplog: pytest.LogCaptureFixture, message: str) -> int:
    return sum(1 for record in caplog.records if record.getMessage() == message)


async def test_config_reload_adds_members_and_refuses_bad_files(
    recorded_node: RecordedNodeFactory,
    aggregator_from_file: FileAggregatorFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    se, fi = await _two(recorded_node)
    environ = {"SE_TOKEN": "se-token"}
    path = tmp_path / "network.toml"
    path.write_text(toml([("se", se.url)], tokens={"se": "SE_TOKEN"}))
    client = await aggregator_from_file(path, environ)
    assert await _member_ids(client) == ["se"]

    # fi joins, k becomes 3: fi's 2 alleles are now shown as 3
    rewrite(path, toml([("se", se.url), ("fi", fi.url)], k=3, tokens={"se": "SE_TOKEN"}))

    async def both() -> bool:
        return await _member_ids(client) == ["se", "fi"]

    await eventually(both)
    body = await get(client, params=COUNT)
    assert [(m["status"], m["count"]) for m in body["info"]["members"]] == [("ok", 6), ("ok", 3)]
    assert body["info"]["network"]["countThreshold"] == 3
    assert body["responseSummary"]["numTotalResults"] == 9
    assert {h.get("Authorization") for h in se.recorder.queries()} == {"Bearer se-token"}
    assert {h.get("Authorization") for h in fi.recorder.queries()} == {None}

    refusal = "config reload refused; keeping the current members"
    bad_files = [
        "this is [not toml",
        toml([("se", se.url), ("fi", "ftp://nowhere")]),  # not an http(s) URL
        toml([("se", se.url)], tokens={"se": "UNSET_TOKEN"}),  # no such variable
    ]
    for bad in bad_files:
        refused = _logged(caplog, refusal)
        rewrite(path, bad)

        async def refusal_logged(before: int = refused) -> bool:
            return _logged(caplog, refusal) > before

        await eventually(refusal_logged)
        body = await get(client, params=COUNT)
        assert [m["id"] for m in body["info"]["members"]] == ["se", "fi"]
        assert body["info"]["network"]["countThreshold"] == 3


def _gated(arrived: asyncio.Event, release: asyncio.Event) -> web.Application:
    """A member whose queries wait for `release` (after setting `arrived`); 7 found."""

    async def handler(request: web.Request) -> web.Response:
        if request.path.startswith("/g_variants"):
            arrived.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(release.wait(), 10)
        meta = {"beaconId": "gate.beacon", "apiVersion": "v2.0.0", "returnedGranularity": "count"}
        summary = {"exists": True, "numTotalResults": 7}
        return web.json_response({"meta": meta, "responseSummary": summary})

    async def wake(app: web.Application) -> None:
        release.set()

    app = everywhere(handler)
    app.on_shutdown.append(wake)
    return app


async def test_a_request_in_flight_during_a_reload_completes(
    national_node: NodeFactory,
    serve: Serve,
    aggregator_from_file: FileAggregatorFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="beacon.aggregator.registry")
    se = await national_node("se", SE_ROWS, SAMPLES)
    arrived, release = asyncio.Event(), asyncio.Event()
    gate = await serve(_gated(arrived, release))
    path = tmp_path / "network.toml"
    path.write_text(toml([("gate", gate), ("se", se)], deadline=5.0))
    client = await aggregator_from_file(path)

    in_flight = asyncio.create_task(client.get("/g_variants", params=COUNT))
    await asyncio.wait_for(arrived.wait(), 3)
    rewrite(path, toml([("se", se)], deadline=5.0))  # the gate leaves the network

    async def reloaded() -> bool:
        return _logged(caplog, "members reloaded") > 0

    await eventually(reloaded)
    assert not in_flight.done()
    release.set()
    response = await in_flight
    body = await response.json()
    assert response.status == 200, body
    assert [(m["id"], m["status"]) for m in body["info"]["members"]] == [
        ("gate", "ok"),
        ("se", "ok"),
    ]
    assert member_lines(body)["gate"]["count"] == 7
    assert body["responseSummary"]["numTotalResults"] == 13
    assert await _member_ids(client) == ["se"]


# --- framework endpoints -----------------------------------------------------------------------

FRAMEWORK = [*NODE_FRAMEWORK, ("/datasets/fi-cohort", "collections")]


@pytest.fixture
async def network(national_node: NodeFactory, aggregator: AggregatorFactory) -> Any:
    """An aggregator over two real nodes, se and fi."""
    se = await national_node("se", SE_ROWS, SAMPLES)
    fi = await national_node("fi", FI_ROWS, SAMPLES)
    return await aggregator([Member("se", "SE", "Sweden", se), Member("fi", "FI", "Finland", fi)])


@pytest.mark.parametrize(("path", "kind"), FRAMEWORK, ids=[p for p, _ in FRAMEWORK])
async def test_framework_endpoint_is_valid(network: Any, path: str, kind: str) -> None:
    body = await get(network, path)
    assert_valid(kind, body)
    if kind != "service-info":
        assert body["meta"]["beaconId"] == "eu.network"


async def test_datasets_are_the_members_datasets_stamped(network: Any) -> None:
    body = await get(network, "/datasets")
    collections = body["response"]["collections"]
    assert [
        (d["id"], d["info"]["memberId"], d["info"]["beaconId"], d["info"]["country"])
        for d in collections
    ] == [("se-cohort", "se", "se.beacon", "SE"), ("fi-cohort", "fi", "fi.beacon", "FI")]
    assert body["responseSummary"] == {"exists": True, "numTotalResults": 2}
    for record in collections:
        # `info` aside: the shared schema copy cannot resolve the `common/info.json` it names
        assert_valid("dataset", {k: v for k, v in record.items() if k != "info"})
        assert record["version"]
        assert record["info"]["samples"] == 8
    one = await get(network, "/datasets/fi-cohort")
    assert one["response"]["collections"] == [collections[1]]


async def test_an_unknown_dataset_is_a_404(network: Any) -> None:
    response = await network.get("/datasets/nope")
    body = await response.json()
    assert response.status == 404
    assert_valid("error", body)
    assert body["error"]["errorCode"] == 404


async def test_map_points_at_the_aggregator(network: Any) -> None:
    body = await get(network, "/map")
    root = url_of(network)
    sets = body["response"]["endpointSets"]
    assert sets["genomicVariation"]["rootUrl"] == f"{root}/g_variants"
    assert sets["individual"]["rootUrl"] == f"{root}/individuals"


async def test_health_lists_every_member(network: Any) -> None:
    body = await get(network, "/health")
    assert body["status"] == "ok"
    assert body["members"] == [
        {
            "id": member_id,
            "reachable": True,
            "problem": "",
            "consecutiveFailures": 0,
            "circuitOpen": False,
        }
        for member_id in ("se", "fi")
    ]


async def test_openapi_describes_every_route(network: Any) -> None:
    doc = await get(network, "/openapi.json")
    validate(doc, cls=OpenAPIV31SpecValidator)  # raises on any violation
    assert doc["servers"] == [{"url": url_of(network)}]
    routes = {
        (route.resource.canonical, route.method.lower())
        for route in network.server.app.router.routes()
        if route.method != "HEAD"
    }
    described = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert routes == described


# --- /individuals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("k", "se_shown", "fi_shown", "total", "adjusted"),
    [
        pytest.param(1, 6, 2, 8, False, id="k1"),
        pytest.param(2, 6, 2, 8, False, id="k2"),
        pytest.param(3, 6, 3, 9, True, id="k3"),
        pytest.param(5, 6, 5, 11, True, id="k5"),
        pytest.param(6, 6, 6, 12, True, id="k6"),
        pytest.param(7, 7, 7, 14, True, id="k7"),
    ],
)
async def test_individuals_carriers_per_member_thresholded(
    national_node: NodeFactory,
    aggregator: AggregatorFactory,
    k: int,
    se_shown: int,
    fi_shown: int,
    total: int,
    adjusted: bool,
) -> None:
    """22_99_A_G is carried by six people at se and two at fi; no count in 1..k-1 is shown."""
    se = await national_node("se", SE_ROWS, SAMPLES)
    fi = await national_node("fi", FI_ROWS, SAMPLES)
    members = [Member("se", "SE", "Sweden", se), Member("fi", "FI", "Finland", fi)]
    client = await aggregator(members, k=k)
    variant = {"referenceName": "22", "start": "99", "end": "100"}
    by_get = await get(client, "/individuals", params={**variant, "requestedGranularity": "record"})
    response = await client.post(
        "/individuals", json=_post_body("count", referenceName="22", start=[99], end=[100])
    )
    by_post = await response.json()
    for body in (by_get, by_post):
        assert_valid_answer(body)
        assert body["meta"]["returnedGranularity"] == "count"  # never records of people
        assert body["meta"]["returnedSchemas"][0]["entityType"] == "individual"
        lines = member_lines(body)
        assert (lines["se"]["count"], lines["fi"]["count"]) == (se_shown, fi_shown)
        assert body["info"]["network"]["countThreshold"] == k
        summary = body["responseSummary"]
        assert summary["numTotalResults"] == total
        assert summary["countPrecision"] == ("imprecise" if adjusted else "exact")
        assert summary.get("countAdjustedTo") == (["threshold"] if adjusted else None)
        sets = body["response"]["resultSets"]
        assert [(s["id"], s["resultsCount"], s["results"]) for s in sets] == [
            ("se-cohort", se_shown, []),
            ("fi-cohort", fi_shown, []),
        ]
