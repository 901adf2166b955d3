"""Misbehaving members: whatever a member does, the aggregator answers 200 within its deadline,
lists every member with what went wrong, and merges the members that answered well.

Every member is a real server on 127.0.0.1: real nodes holding tiny VCFs, aiohttp apps that
misbehave on every path, raw asyncio servers for what aiohttp will not do (never answer, lie
about Content-Length, hang up mid-answer), and a bound port nobody listens on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web

from beacon.config import Member
from beacon.results import Granularity
from tests.aggregator.conftest import (
    COUNT,
    FI_ROWS,
    RANGE,
    SAMPLES,
    SE_ROWS,
    AggregatorFactory,
    NodeFactory,
    Serve,
)
from tests.aggregator.support import DEADLINE, MARGIN, everywhere, member_lines, timed
from tests.official_schemas import assert_valid, assert_valid_answer

CAP = "answer larger than "  # 1 MiB below record granularity, 5 MiB for records
"""The detail of a member refused for size under the default max_member_bytes."""

# At count granularity for RANGE (k = 5) se shows its 6 alleles, fi its 2 as 5.
SHOWN = {"se": 6, "fi": 5}


# --- misbehaving members ------------------------------------------------------------------


def _erroring(status: int, message: str) -> web.Application:
    """Answers every request with `status` and a Beacon error body carrying `message`."""
    error = {"errorCode": status, "errorMessage": message}
    meta = {"beaconId": "broken.beacon", "apiVersion": "v2.0.0", "returnedGranularity": "boolean"}

    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"meta": meta, "error": error}, status=status)

    return everywhere(handler)


def _slow() -> web.Application:
    """Answers well, but only when the test ends (or after 10 s): far past any deadline."""
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(release.wait(), 10)
        meta = {"beaconId": "slow.beacon", "apiVersion": "v2.0.0", "returnedGranularity": "boolean"}
        return web.json_response({"meta": meta, "responseSummary": {"exists": True}})

    async def wake(app: web.Application) -> None:
        release.set()  # so that closing the server does not wait for the sleeper

    app = everywhere(handler)
    app.on_shutdown.append(wake)
    return app


async def _stream_50mb(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    chunk = b" " * 65536
    with contextlib.suppress(ConnectionError):  # the aggregator hangs up, as it should
        for _ in range(50 * 1024 * 1024 // len(chunk)):
            await response.write(chunk)
    return response


async def _liar(request: web.Request) -> web.Response:
    """A schema-valid answer at the asked granularity: `exists` true, yet zero results."""
    asked = request.query.get("requestedGranularity", "boolean")
    if request.method == "POST":
        asked = (await request.json())["query"]["requestedGranularity"]
    returned = "boolean" if asked == "boolean" else "count"
    meta = {"beaconId": "liar.beacon", "apiVersion": "v2.0.0", "returnedGranularity": returned}
    summary = {"exists": True, "numTotalResults": 0}
    return web.json_response({"meta": meta, "responseSummary": summary})


def _answering(
    status: int = 200, text: str = "", content_type: str = "application/json", **headers: str
) -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, text=text, content_type=content_type, headers=headers)

    return everywhere(handler)


APPS: dict[str, Callable[[], web.Application]] = {
    "slow": _slow,
    "error-500": lambda: _erroring(500, "the variant\n  store is down"),
    "plain-500": lambda: _answering(
        500, "Traceback (most recent call last): /srv/secret/store.py", "text/plain"
    ),
    "unauthorized": lambda: _erroring(401, "a token is required"),
    "redirect": lambda: _answering(302, "", Location="http://127.0.0.1:9/elsewhere"),
    "not-json": lambda: _answering(200, '{"meta": {"beaconId": '),
    "deep-json": lambda: _answering(200, "[" * 100_000 + "]" * 100_000),
    "json-array": lambda: _answering(200, "[1, 2, 3]"),
    "not-beacon": lambda: _answering(200, '{"hello": "world", "exists": true}'),
    "liar": lambda: everywhere(_liar),
    "huge-stream": lambda: everywhere(_stream_50mb),
}

Respond = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()  # until the aggregator gives up and hangs up


async def _huge_length(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 60000000000\r\n\r\n{"
    )
    await reader.read()


async def _cut_off(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b'Content-Length: 1000\r\n\r\n{"meta": {"beaconId": "cut.beacon"'
    )
    await writer.drain()


async def _hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")


RAW: dict[str, Respond] = {
    "hang": _never_answer,
    "huge-length": _huge_length,
    "cut-off": _cut_off,
    "closes": _hang_up,
}


@dataclass(frozen=True)
class Bad:
    """A misbehaving member and the line the aggregator must give it."""

    name: str
    status: str
    detail: str
    http_status: int | None = None
    waits: bool = False
    """Whether the aggregator must wait for the deadline to give up on it."""


BAD = [
    Bad("slow", "timeout", "no answer within", waits=True),
    Bad("hang", "timeout", "no answer within", waits=True),
    Bad("refused", "unreachable", "cannot connect"),
    Bad("closes", "unreachable", "the member closed the connection without answering"),
    Bad("error-500", "http_error", "HTTP 500: the variant store is down", 500),
    Bad("plain-500", "http_error", "HTTP 500: no Beacon error message", 500),
    Bad("unauthorized", "unauthorized", "HTTP 401: a token is required", 401),
    Bad("redirect", "http_error", "HTTP 302: no Beacon error message", 302),
    Bad("not-json", "invalid_response", "answer is not JSON"),
    Bad("deep-json", "invalid_response", "answer is not JSON"),
    Bad("json-array", "invalid_response", "answer is not a JSON object"),
    Bad("not-beacon", "invalid_response", "not a valid Beacon answer"),
    Bad("liar", "invalid_response", "exists is true but numTotalResults is 0"),
    Bad("huge-stream", "invalid_response", CAP),
    Bad("huge-length", "invalid_response", CAP),
    Bad("cut-off", "invalid_response", "the answer was cut off"),
]
BY_NAME = {bad.name: bad for bad in BAD}


@pytest.fixture
async def raw_server() -> AsyncIterator[Callable[[Respond], Awaitable[str]]]:
    """`await raw_server(respond)`: a bare TCP server on 127.0.0.1 speaking (or not) HTTP."""
    servers: list[asyncio.Server] = []
    writers: list[asyncio.StreamWriter] = []

    async def start(respond: Respond) -> str:
        async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writers.append(writer)
            with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
                await respond(reader, writer)
            writer.close()

        server = await asyncio.start_server(connected, "127.0.0.1", 0)
        servers.append(server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    yield start
    for writer in writers:
        writer.close()
    for server in servers:
        server.close()
        await server.wait_closed()


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A URL whose port is bound (so nobody else takes it) but never listened on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


BadFactory = Callable[[str], Awaitable[Member]]


@pytest.fixture
def bad_member(
    serve: Serve, raw_server: Callable[[Respond], Awaitable[str]], refused_url: str
) -> BadFactory:
    """`await bad_member("liar")`: the named misbehaving member, running, as a Member."""

    async def start(name: str) -> Member:
        if name == "refused":
            url = refused_url
        elif name in RAW:
            url = await raw_server(RAW[name])
        else:
            url = await serve(APPS[name]())
        return Member(name, "EU", f"{name} member", url)

    return start


@pytest.fixture
async def good(national_node: NodeFactory) -> list[Member]:
    """Two real, correct nodes: se (six alleles in RANGE) and fi (two)."""
    se = await national_node("se", SE_ROWS, SAMPLES)
    fi = await national_node("fi", FI_ROWS, SAMPLES)
    return [Member("se", "SE", "Sweden", se), Member("fi", "FI", "Finland", fi)]


# --- checks ----------------------------------------------------------------------------------


def _check_bad_line(line: dict[str, Any], bad: Bad) -> None:
    assert line["status"] == bad.status, line
    assert bad.detail in line["detail"], line
    assert line.get("httpStatus") == bad.http_status, line
    assert "exists" not in line and "count" not in line, line
    assert line["cached"] is False


def _check_good_lines(lines: dict[str, dict[str, Any]], granularity: str) -> None:
    for member_id, beacon_id in (("se", "se.beacon"), ("fi", "fi.beacon")):
        line = lines[member_id]
        assert line["status"] == "ok", line
        assert line["beaconId"] == beacon_id
        assert line["exists"] is True
        assert "httpStatus" not in line and "detail" not in line
        if granularity == "boolean":
            assert "count" not in line
    if granularity != "boolean":
        assert lines["se"]["count"] == 6
        assert lines["se"]["countPrecision"] == "exact"
        assert "countAdjustedTo" not in lines["se"]
        assert lines["fi"]["count"] == 5
        assert lines["fi"]["countPrecision"] == "imprecise"
        assert lines["fi"]["countAdjustedTo"] == ["threshold"]


def _check_merged(body: dict[str, Any], granularity: str) -> None:
    """se's and fi's answers to RANGE merged: exists, thresholded counts, their records."""
    assert body["meta"]["returnedGranularity"] == granularity
    summary = body["responseSummary"]
    assert summary["exists"] is True
    if granularity == "boolean":
        assert set(summary) == {"exists"}
        assert "response" not in body
        return
    assert summary["numTotalResults"] == 11
    assert summary["countPrecision"] == "imprecise"
    assert summary["countAdjustedTo"] == ["threshold"]
    sets = body["response"]["resultSets"]
    assert [(s["id"], s["beaconId"], s["resultsCount"]) for s in sets] == [
        ("se-cohort", "se.beacon", 6),
        ("fi-cohort", "fi.beacon", 5),
    ]
    assert [s["info"]["memberId"] for s in sets] == ["se", "fi"]
    records = [len(s["results"]) for s in sets]
    assert records == ([6, 2] if granularity == "record" else [0, 0])


# --- tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("granularity", ["boolean", "count", "record"])
async def test_every_kind_of_failure_at_once(
    good: list[Member], bad_member: BadFactory, aggregator: AggregatorFactory, granularity: str
) -> None:
    bad = [await bad_member(b.name) for b in BAD]
    client = await aggregator([*good, *bad], deadline=DEADLINE, max_granularity=Granularity.RECORD)
    params = {**RANGE, "requestedGranularity": granularity}
    status, body, elapsed = await timed(client, "GET", "/g_variants", params=params)

    assert status == 200, body
    assert elapsed < DEADLINE + MARGIN
    assert_valid_answer(body)
    lines = member_lines(body)
    assert list(lines) == ["se", "fi", *(b.name for b in BAD)]
    _check_good_lines(lines, granularity)
    for b in BAD:
        _check_bad_line(lines[b.name], b)
    assert body["info"]["network"] | {"elapsedMs": 0} == {
        "membersAnswered": 2,
        "membersTotal": 2 + len(BAD),
        "membersFound": 2,
        "deadlineMs": 1000,
        "elapsedMs": 0,
        "countThreshold": 5,
    }
    _check_merged(body, granularity)


@pytest.mark.parametrize("bad", BAD, ids=[b.name for b in BAD])
async def test_one_bad_member_beside_two_good_ones(
    good: list[Member], bad_member: BadFactory, aggregator: AggregatorFactory, bad: Bad
) -> None:
    client = await aggregator([*good, await bad_member(bad.name)], deadline=DEADLINE)
    status, body, elapsed = await timed(client, "GET", "/g_variants", params=COUNT)

    assert status == 200, body
    assert_valid_answer(body)
    # A failing member costs the deadline only when it has to be waited for.
    assert elapsed < (DEADLINE + MARGIN if bad.waits else DEADLINE * 0.8)
    if bad.waits:
        assert elapsed >= DEADLINE * 0.9
    lines = member_lines(body)
    assert list(lines) == ["se", "fi", bad.name]
    _check_good_lines(lines, "count")
    _check_bad_line(lines[bad.name], bad)
    assert body["info"]["network"]["membersAnswered"] == 2
    _check_merged(body, "count")


async def test_member_errors_are_summarised_never_echoed(
    good: list[Member], bad_member: BadFactory, aggregator: AggregatorFactory
) -> None:
    """A member's raw body (a stack trace here) never reaches the caller; its Beacon error
    message does, on one line."""
    members = [*good, await bad_member("plain-500"), await bad_member("error-500")]
    client = await aggregator(members, deadline=DEADLINE)
    _, body, _ = await timed(client, "GET", "/g_variants", params=RANGE)
    text = json.dumps(body)
    assert "Traceback" not in text and "/srv/secret" not in text
    assert body["info"]["members"][3]["detail"] == "HTTP 500: the variant store is down"


async def test_a_member_timeout_shorter_than_the_deadline_is_kept(
    good: list[Member], bad_member: BadFactory, aggregator: AggregatorFactory
) -> None:
    """Each member is bounded by min(its own timeout, what is left of the deadline)."""
    slow = await bad_member("slow")
    client = await aggregator([*good, Member("slow", "EU", "slow", slow.url, timeout=0.3)])
    status, body, elapsed = await timed(client, "GET", "/g_variants", params=RANGE)
    assert status == 200
    assert body["info"]["network"]["deadlineMs"] == 5000
    assert 0.25 <= elapsed < 1.0
    line = body["info"]["members"][2]
    assert line["status"] == "timeout"
    assert 250 <= line["latencyMs"] < 1000
    assert body["responseSummary"]["exists"] is True


async def test_only_bad_members_is_still_an_answer(
    bad_member: BadFactory, aggregator: AggregatorFactory
) -> None:
    names = ["refused", "liar", "error-500", "not-json"]
    client = await aggregator([await bad_member(n) for n in names], deadline=DEADLINE)
    for granularity in ("boolean", "count"):
        params = {**RANGE, "requestedGranularity": granularity}
        status, body, _ = await timed(client, "GET", "/g_variants", params=params)
        assert status == 200, body
        assert_valid_answer(body)
        assert body["responseSummary"]["exists"] is False
        if granularity == "count":
            assert body["responseSummary"]["numTotalResults"] == 0
            assert body["responseSummary"]["countPrecision"] == "exact"
            assert body["response"]["resultSets"] == []
        assert [m["status"] for m in body["info"]["members"]] == [BY_NAME[n].status for n in names]
        assert body["info"]["network"]["membersAnswered"] == 0


ENTRIES = [
    pytest.param("GET", "/g_variants", "genomicVariation", SHOWN, id="get-g_variants"),
    pytest.param("POST", "/g_variants", "genomicVariation", SHOWN, id="post-g_variants"),
    pytest.param("GET", "/individuals", "individual", SHOWN, id="get-individuals"),
    pytest.param("POST", "/individuals", "individual", SHOWN, id="post-individuals"),
    pytest.param(
        "GET", "/g_variants/22_99_A_G", "genomicVariation", {"se": 5, "fi": 5}, id="variant-id"
    ),
]


def _request(method: str, path: str) -> dict[str, Any]:
    if path.startswith("/g_variants/"):
        return {"params": {"requestedGranularity": "count"}}
    if method == "GET":
        return {"params": {**RANGE, "requestedGranularity": "count"}}
    variant = {"referenceName": "22", "start": [0], "end": [1000]}
    query = {"requestParameters": variant, "requestedGranularity": "count"}
    return {"json": {"meta": {"apiVersion": "v2.0.0"}, "query": query}}


@pytest.mark.parametrize(("method", "path", "entity", "shown"), ENTRIES)
async def test_every_query_entry_survives_bad_members(
    good: list[Member],
    bad_member: BadFactory,
    aggregator: AggregatorFactory,
    method: str,
    path: str,
    entity: str,
    shown: dict[str, int],
) -> None:
    names = ["liar", "error-500", "refused", "huge-length"]
    client = await aggregator([*good, *[await bad_member(n) for n in names]], deadline=DEADLINE)
    status, body, elapsed = await timed(client, method, path, **_request(method, path))

    assert status == 200, body
    assert elapsed < DEADLINE * 0.8
    assert_valid_answer(body)
    assert body["meta"]["returnedSchemas"][0]["entityType"] == entity
    lines = body["info"]["members"]
    assert [(m["id"], m["status"]) for m in lines] == [
        ("se", "ok"),
        ("fi", "ok"),
        *((n, BY_NAME[n].status) for n in names),
    ]
    assert {m["id"]: m["count"] for m in lines[:2]} == shown
    assert body["responseSummary"]["numTotalResults"] == sum(shown.values())
    assert body["responseSummary"]["countAdjustedTo"] == ["threshold"]


async def test_a_member_answering_finer_than_asked_is_refused(
    good: list[Member], serve: Serve, aggregator: AggregatorFactory
) -> None:
    """A member sending records (or counts) when asked for a boolean is not believed."""

    async def oversharing(request: web.Request) -> web.Response:
        meta = {"beaconId": "over.beacon", "apiVersion": "v2.0.0", "returnedGranularity": "record"}
        result = {"id": "over-ds", "exists": True, "resultsCount": 1, "results": [{"x": 1}]}
        summary = {"exists": True, "numTotalResults": 1}
        return web.json_response(
            {"meta": meta, "responseSummary": summary, "response": {"resultSets": [result]}}
        )

    over = Member("over", "EU", "oversharing", await serve(everywhere(oversharing)))
    client = await aggregator([*good, over], deadline=DEADLINE)
    params = {**RANGE, "requestedGranularity": "boolean"}
    status, body, _ = await timed(client, "GET", "/g_variants", params=params)
    assert status == 200
    assert_valid("boolean", body)
    line = body["info"]["members"][2]
    assert line["status"] == "invalid_response"
    assert line["detail"] == "answered record when asked for boolean"
    assert "over-ds" not in json.dumps(body)


def _describing(overrides: dict[str, Any], flip: dict[str, bool] | None = None) -> web.Application:
    """A count-only member (7 found, no result sets) with a versioned dataset, whose answer at
    each path in `overrides` is replaced, from the start or once `flip["on"]` is set."""
    meta = {"beaconId": "odd.beacon", "apiVersion": "v2.0.0", "returnedGranularity": "count"}

    async def handler(request: web.Request) -> web.Response:
        if request.path in overrides and (flip is None or flip["on"]):
            return web.json_response(overrides[request.path])
        if request.path == "/datasets":
            collections = [{"id": "odd-ds", "name": "odd", "version": "r1"}]
            return web.json_response({"meta": meta, "response": {"collections": collections}})
        summary = {"exists": True, "numTotalResults": 7}
        return web.json_response({"meta": meta, "responseSummary": summary})

    return everywhere(handler)


MALFORMED = [
    pytest.param("/info", {"meta": "odd.beacon"}, id="info-meta-is-a-string"),
    pytest.param("/map", {"response": ["endpointSets"]}, id="map-response-is-a-list"),
    pytest.param("/datasets", {"response": ["collections"]}, id="datasets-response-is-a-list"),
]


@pytest.mark.parametrize(("path", "body"), MALFORMED)
async def test_a_wrongly_typed_description_does_not_stop_the_aggregator(
    good: list[Member], serve: Serve, aggregator: AggregatorFactory, path: str, body: Any
) -> None:
    """JSON objects with the wrong types inside (/info, /map, /datasets) are a member's
    problem: the aggregator starts, and the member's (valid) query answers still count."""
    odd = Member("odd", "EU", "odd member", await serve(_describing({path: body})))
    client = await aggregator([*good, odd], deadline=DEADLINE)  # fails to start today
    status, answer, _ = await timed(client, "GET", "/g_variants", params=COUNT)
    assert status == 200, answer
    lines = member_lines(answer)
    assert [(i, line["status"]) for i, line in lines.items()] == [
        ("se", "ok"),
        ("fi", "ok"),
        ("odd", "ok"),
    ]
    assert lines["odd"]["count"] == 7
    assert answer["responseSummary"]["numTotalResults"] == 18


async def test_datasets_turning_malformed_do_not_sink_the_answer(
    good: list[Member], serve: Serve, aggregator: AggregatorFactory
) -> None:
    """The per-query re-read of a member's /datasets must not turn into a 500 either."""
    flip = {"on": False}
    url = await serve(_describing({"/datasets": {"response": ["collections"]}}, flip))
    odd = Member("odd", "EU", "odd member", url)
    client = await aggregator([*good, odd], deadline=DEADLINE, versions_max_age=0.0)
    status, answer, _ = await timed(client, "GET", "/g_variants", params=COUNT)
    assert status == 200, answer
    flip["on"] = True
    status, answer, _ = await timed(client, "GET", "/g_variants", params=COUNT)
    assert status == 200, answer  # a bare 500 today
    assert [line["status"] for line in answer["info"]["members"]] == ["ok", "ok", "ok"]
    assert answer["responseSummary"]["numTotalResults"] == 18
