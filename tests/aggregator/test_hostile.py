"""Hostile members: answers built to stall, crash or mislead the aggregator. Whatever they send,
the aggregator answers 200 within its deadline, refuses or trims what it cannot use, never lets
a member's data leak a suppressed count, a cookie or a request to another address, and keeps
a member's circuit closed when only the request was at fault.

Every member is a real aiohttp app on 127.0.0.1 (or `localhost`, where cookies need a host
name); the one good member is a real node holding a tiny VCF.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from beacon.config import BeaconInfo, Member
from beacon.results import Granularity
from tests.aggregator.conftest import (
    COUNT,
    RANGE,
    SAMPLES,
    SE_ROWS,
    AggregatorFactory,
    FileAggregatorFactory,
    NodeFactory,
    RecordedNodeFactory,
    Recorder,
    Serve,
    url_of,
)
from tests.aggregator.support import (
    DEADLINE,
    MARGIN,
    eventually,
    everywhere,
    get,
    member_lines,
    rewrite,
    timed,
    toml,
)
from tests.official_schemas import assert_valid_answer

# --- hostile members ---------------------------------------------------------------------------

Answer = Callable[[str], str]
"""The JSON text a member sends for a query asked at the given granularity."""


def _body(
    granularity: str, total: int, sets: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any]:
    """A member answer at `granularity` finding `total`, with result sets above boolean."""
    meta = {
        "beaconId": "hostile.beacon",
        "apiVersion": "v2.0.0",
        "returnedGranularity": granularity,
    }
    body: dict[str, Any] = {"meta": meta, "responseSummary": {"exists": total > 0}, **extra}
    if granularity != "boolean":
        body["responseSummary"]["numTotalResults"] = total
        body["response"] = {"resultSets": sets or []}
    return body


def _set(set_id: str, found: int, results: Any = (), **extra: Any) -> dict[str, Any]:
    results = results if isinstance(results, str) else list(results)
    return {"id": set_id, "exists": found > 0, "resultsCount": found, "results": results, **extra}


def _text(body: dict[str, Any], **raw: str) -> str:
    """`body` as compact JSON, each string "@name" in it replaced by the JSON text `raw[name]`
    (for what json.dumps cannot or should not build: deep nesting, megabytes of records)."""
    text = json.dumps(body, separators=(",", ":"))
    for name, value in raw.items():
        text = text.replace(f'"@{name}"', value)
    return text


def _counted(found: int) -> Answer:
    """A member finding `found`, with no result sets, at whatever granularity it is asked."""
    return lambda granularity: _text(_body(granularity, found))


async def _asked(request: web.Request) -> str:
    """The granularity a query asked for (the aggregator POSTs, a GET names it in the URL)."""
    if request.method == "POST":
        return str((await request.json())["query"]["requestedGranularity"])
    return request.query.get("requestedGranularity", "boolean")


def _hostile(
    answer: Answer,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    datasets: tuple[str, ...] = ("hostile-ds",),
    recorder: Recorder | None = None,
) -> web.Application:
    """A member answering every query with `answer(asked granularity)` and HTTP `status`.

    Its /datasets lists `datasets`, versioned, so that its valid answers may be cached; every
    response carries `headers`; `recorder` logs what it receives.
    """
    collections = [{"id": d, "name": d, "version": "r1"} for d in datasets]

    async def handler(request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]  # below the app's prefix, if it has one
        text, code = _text(_body("boolean", 1)), 200
        if path == "/datasets":
            text = _text(_body("boolean", 1, response={"collections": collections}))
        elif path not in ("/info", "/map"):
            text, code = answer(await _asked(request)), status
        return web.Response(
            text=text, status=code, content_type="application/json", headers=headers
        )

    app = everywhere(handler)
    if recorder is not None:
        app.middlewares.append(recorder.middleware)
    return app


@pytest.fixture
async def se(national_node: NodeFactory) -> Member:
    """A real, correct node finding six alleles in RANGE (shown as 6 at k = 5)."""
    return Member("se", "SE", "Sweden", await national_node("se", SE_ROWS, SAMPLES))


async def _start(serve: Serve, member_id: str, app: web.Application) -> Member:
    return Member(member_id, "EU", f"{member_id} member", await serve(app))


# --- H1: answers too large to be worth reading ---------------------------------------------


@functools.cache
def _flood(sets: int, records: int, granularity: str = "count") -> str:
    """An answer of `sets` result sets, each finding `records` and carrying them all (empty
    records, which nobody asked for at count granularity)."""
    many = "[" + ",".join(["{}"] * records) + "]"
    found = [_set(f"d{i}", records, "@many") for i in range(sets)]
    return _text(_body(granularity, sets * records, found), many=many)


async def test_records_flooding_a_count_answer_cost_no_time(
    se: Member, serve: Serve, aggregator: AggregatorFactory
) -> None:
    """170 sets of 10,000 records (5.1 MB, under the old 5 MiB cap) took seconds of schema
    validation on the event loop; so did three answers of 300 x 1,000 (0.9 MB each). Now the
    first is too large for a count answer and the others' records are dropped unread."""
    assert 5_000_000 < len(_flood(170, 10_000)) < 5 * 1024 * 1024
    assert len(_flood(300, 1000)) < 1024 * 1024
    members = [se, await _start(serve, "flood", _hostile(lambda _: _flood(170, 10_000)))]
    listed = tuple(f"d{i}" for i in range(300))  # they do have 300 datasets
    for n in range(3):
        flooding = _hostile(lambda _: _flood(300, 1000), datasets=listed)
        members.append(await _start(serve, f"many{n}", flooding))
    client = await aggregator(members, deadline=DEADLINE)
    status, body, elapsed = await timed(client, "GET", "/g_variants", params=COUNT)

    assert status == 200, body
    assert elapsed < DEADLINE + MARGIN
    assert_valid_answer(body)
    lines = member_lines(body)
    assert (lines["se"]["status"], lines["se"]["count"]) == ("ok", 6)
    assert lines["flood"]["status"] == "invalid_response"
    assert lines["flood"]["detail"] == "answer larger than 1,048,576 bytes"
    for n in range(3):
        assert lines[f"many{n}"]["status"] == "ok"
    sets = body["response"]["resultSets"]
    assert len(sets) == 1 + 3 * 300
    assert all(s["results"] == [] for s in sets)


async def test_records_flooding_a_record_answer_cost_no_time(
    se: Member, serve: Serve, aggregator: AggregatorFactory
) -> None:
    """No set past `limit` (1,000), but 1,700 of them from a member that lists one dataset:
    three such answers (5.2 MB each, under the 5 MiB cap) are read, checked, merged and
    written out on the event loop, well past the deadline.

    Such an answer (more result sets than the member lists datasets) is refused unread.
    """
    flood = _flood(1700, 1000, "record")
    assert len(flood) < 5 * 1024 * 1024
    members = [se]
    for n in range(3):
        members.append(await _start(serve, f"flood{n}", _hostile(lambda _: flood)))
    client = await aggregator(members, deadline=DEADLINE, max_granularity=Granularity.RECORD)
    params = {**RANGE, "requestedGranularity": "record", "limit": "1000"}
    status, body, elapsed = await timed(client, "GET", "/g_variants", params=params)

    assert status == 200, body
    assert member_lines(body)["se"]["status"] == "ok"
    assert elapsed < DEADLINE + MARGIN


@pytest.mark.parametrize(
    ("limit", "records", "problem"),
    [
        pytest.param(None, 10, None, id="default-limit"),
        pytest.param(None, 11, "more than the 10 records asked for in 'many'", id="past-default"),
        pytest.param("3", 3, None, id="limit-3"),
        pytest.param("3", 4, "more than the 3 records asked for in 'many'", id="past-limit-3"),
    ],
)
async def test_more_records_than_asked_for_are_refused(
    se: Member,
    serve: Serve,
    aggregator: AggregatorFactory,
    limit: str | None,
    records: int,
    problem: str | None,
) -> None:
    found = [{"variantInternalId": f"v{i}"} for i in range(records)]

    def answer(granularity: str) -> str:
        return _text(_body(granularity, records, [_set("many", records, found)]))

    member = await _start(serve, "many", _hostile(answer))
    client = await aggregator([se, member], deadline=DEADLINE, max_granularity=Granularity.RECORD)
    params = {**RANGE, "requestedGranularity": "record"}
    if limit is not None:
        params["limit"] = limit
    status, body, elapsed = await timed(client, "GET", "/g_variants", params=params)

    assert status == 200, body
    assert elapsed < DEADLINE
    line = member_lines(body)["many"]
    if problem is None:
        assert line["status"] == "ok"
        [many] = [s for s in body["response"]["resultSets"] if s["id"] == "many"]
        assert len(many["results"]) == records
    else:
        assert (line["status"], line.get("detail")) == ("invalid_response", problem)
        assert "v0" not in json.dumps(body)


# --- H2: member data that used to end in a 500 -------------------------------------------------


def _deep(levels: int) -> str:
    """JSON text of an object nested `levels` deep."""
    return '{"a":' * levels + "1" + "}" * levels


HUGE = 9 * 10**4299
"""4,300 digits, the most Python reads from JSON; two of them add up to one it cannot print."""


def _nested_lines(granularity: str) -> str:
    """An aggregator-like answer whose member line has a number where a list belongs."""
    line = {"id": "x", "country": "XX", "status": "ok", "exists": True, "count": 7,
            "countAdjustedTo": 5, "members": [{"id": "y", "countAdjustedTo": 5}]}  # fmt: skip
    return _text(_body(granularity, 7, info={"members": [line]}))


LONG_KEY = "k" * 100
SET_INFO = {
    **{"note": "n" * 400, "samples": 8, "ok": True, "ratio": 0.5, LONG_KEY: "v"},
    **{"big": 10**20, "list": [1], "object": {"a": 1}, "none": None, "tree": "@deep"},
}
"""A result set's `info`: five short scalars (one too long, one with too long a key), then
what is dropped: a number past 10^15, a list, objects (one of them 100 levels deep), a null."""
SHOWN_INFO = {"note": "n" * 300, "samples": 8, "ok": True, "ratio": 0.5, LONG_KEY[:64]: "v"}


def _set_info(levels: int) -> Answer:
    """One result set (7 found) whose `info` is SET_INFO, its tree `levels` deep."""
    body = {g: _body(g, 7, [_set("deep-ds", 7, info=SET_INFO)]) for g in ("boolean", "count")}
    return lambda granularity: _text(body[granularity], deep=_deep(levels))


def _huge(granularity: str) -> str:
    body = _body(granularity, HUGE, [_set("huge-ds", HUGE)])
    body["responseSummary"]["numTotalResults"] = HUGE  # a boolean answer may carry it too
    return _text(body)


@pytest.mark.parametrize("granularity", ["boolean", "count"])
async def test_member_data_never_makes_a_500(
    se: Member, serve: Serve, aggregator: AggregatorFactory, granularity: str
) -> None:
    """Asked twice: the second answer comes from the cache where the first was kept, and a
    cached 500 would be a 500 for as long as the entry lives."""
    members = [se]
    for member_id, answer in [
        ("nested", _nested_lines),
        ("deep", _set_info(100)),
        ("huge1", _huge),
        ("huge2", _huge),
    ]:
        members.append(await _start(serve, member_id, _hostile(answer)))
    client = await aggregator(members, deadline=DEADLINE)
    params = {**RANGE, "requestedGranularity": granularity}
    for cached in (False, True):
        status, body, _ = await timed(client, "GET", "/g_variants", params=params)
        assert status == 200, body
        assert_valid_answer(body)
        lines = member_lines(body)
        assert [(i, line["status"], line["cached"]) for i, line in lines.items()] == [
            ("se", "ok", cached),
            ("nested", "ok", cached),
            ("deep", "ok", cached),
            ("huge1", "invalid_response", False),
            ("huge2", "invalid_response", False),
        ], lines
        assert lines["huge1"]["detail"].startswith("not a valid Beacon answer")
        assert lines["nested"]["members"] == [
            {"id": "x", "country": "XX", "status": "ok", "exists": True, "members": [{"id": "y"}]}
        ]
        if granularity == "count":
            [deep] = [s for s in body["response"]["resultSets"] if s["id"] == "deep-ds"]
            assert deep["info"] == {**SHOWN_INFO, "memberId": "deep", "country": "EU"}
            assert body["responseSummary"]["numTotalResults"] == 6 + 7 + 7


def _strict(text: str) -> Any:
    """`text` read as JSON (RFC 8259) has it, where NaN and Infinity are not numbers."""

    def refuse(constant: str) -> Any:
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


async def test_a_record_holding_nan_leaves_the_answer_json(
    se: Member, serve: Serve, aggregator: AggregatorFactory
) -> None:
    """Python reads NaN and -Infinity from a member and writes them back out; most other JSON
    readers (JavaScript's JSON.parse among them) then refuse the whole network answer.

    Such a member's answer is "not JSON", as it is not.
    """
    record = {"variantInternalId": "v0", "frequency": "@nan", "quality": "@inf"}

    def answer(granularity: str) -> str:
        body = _body(granularity, 1, [_set("odd-ds", 1, [record])])
        return _text(body, nan="NaN", inf="-Infinity")

    member = await _start(serve, "odd", _hostile(answer))
    client = await aggregator([se, member], deadline=DEADLINE, max_granularity=Granularity.RECORD)
    for _ in ("asked", "cached"):
        response = await client.get(
            "/g_variants", params={**RANGE, "requestedGranularity": "record"}
        )
        assert response.status == 200
        body = _strict(await response.text())
        assert member_lines(body)["se"]["status"] == "ok"


DEPTHS = range(850, 1000, 3)
"""Levels of nesting around where JSON stops being readable (the interpreter's recursion limit
less the stack beneath the parser). Just below it an answer is read, yet the network answer
holding it cannot be written: the writer's stack is a few frames deeper than the reader's."""


async def test_info_nested_to_the_parsers_limit_never_makes_a_500(
    serve: Serve, aggregator: AggregatorFactory
) -> None:
    network = web.Application()
    for levels in DEPTHS:
        network.add_subapp(f"/{levels}", _hostile(_set_info(levels)))
    url = await serve(network)
    members = [Member(f"d{levels}", "EU", f"{levels} deep", f"{url}/{levels}") for levels in DEPTHS]
    client = await aggregator(members, deadline=DEADLINE)
    for cached in (False, True):
        status, body, _ = await timed(client, "GET", "/g_variants", params=COUNT)
        assert status == 200, body
        assert_valid_answer(body)
        lines = body["info"]["members"]
        read = [line for line in lines if line["status"] == "ok"]
        assert all(line["cached"] is cached for line in read)
        # The deeper answers, which cannot be read, are refused: the limit is inside DEPTHS.
        assert 0 < len(read) < len(lines)
        assert lines[: len(read)] == read
        assert {line["detail"] for line in lines[len(read) :]} == {"answer is not JSON"}
        sets = body["response"]["resultSets"]
        assert [s["info"]["memberId"] for s in sets] == [line["id"] for line in read]
        assert all(s["info"] == {**SHOWN_INFO, "memberId": s["info"]["memberId"], "country": "EU"}
                   for s in sets)  # fmt: skip


# --- H4 / M1: an inner aggregator's member lines ---------------------------------------------

NESTED_KEYS = {"id", "country", "name", "beaconId", "status", "exists"}


def _walk(value: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair anywhere in a JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key, item
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def _check_nested(lines: list[dict[str, Any]]) -> None:
    for line in lines:
        assert set(line) - {"members"} <= NESTED_KEYS, line
        _check_nested(line.get("members", []))


def _two_datasets(granularity: str) -> str:
    """A leaf holding a rare allele's 3 carriers in one dataset and 100 in another."""
    sets = [_set("rare", 3), _set("common", 100)]
    return _text(_body(granularity, 103, sets))


@pytest.mark.parametrize("granularity", ["boolean", "count"])
async def test_inner_members_lines_carry_no_counts(
    serve: Serve, aggregator: AggregatorFactory, granularity: str
) -> None:
    """An inner network with k = 1 shows its leaf's total, 103, beside the datasets' 3 and 100.
    The outer network (k = 5) shows the 3 as 5; were the leaf's 103 passed on (re-thresholded:
    still 103), 103 - 100 would give the 3 away."""
    leaf = _hostile(_two_datasets, datasets=("rare", "common"))
    inner = await aggregator(
        [await _start(serve, "leaf", leaf)],
        k=1,
        info=BeaconInfo(id="inner.network", name="Inner network"),
    )
    outer = await aggregator([Member("inner", "EU", "Inner", url_of(inner))], k=5)
    body = await get(outer, params={**RANGE, "requestedGranularity": granularity})

    assert_valid_answer(body)
    [line] = body["info"]["members"]
    assert (line["status"], line["exists"]) == ("ok", True)
    assert [m["id"] for m in line["members"]] == ["leaf"]
    _check_nested(line["members"])
    counts = {v for k, v in _walk(body) if k in ("count", "numTotalResults", "resultsCount")}
    assert not counts & {3, 103}
    if granularity == "count":
        assert (line["count"], line["countAdjustedTo"]) == (105, ["threshold"])
        sets = body["response"]["resultSets"]
        assert [(s["id"], s["resultsCount"]) for s in sets] == [("rare", 5), ("common", 100)]


# --- M2: cookies -------------------------------------------------------------------------------


async def test_a_members_cookie_reaches_no_member(
    serve: Serve, aggregator: AggregatorFactory
) -> None:
    """On `localhost` (a cookie jar refuses cookies from IP addresses) and on two ports (cookies
    ignore ports): what one member sets must come back to neither."""
    baker, other = Recorder(), Recorder()
    cookie = {"Set-Cookie": "session=baker-secret; Path=/"}
    apps = {
        "baker": _hostile(_counted(7), headers=cookie, recorder=baker),
        "other": _hostile(_counted(7), recorder=other),
    }
    members = [
        Member(name, "EU", name, (await serve(app)).replace("127.0.0.1", "localhost"))
        for name, app in apps.items()
    ]
    client = await aggregator(members, cache_entries=0, deadline=DEADLINE)
    for _ in range(2):
        body = await get(client, params=COUNT)
        assert [line["status"] for line in body["info"]["members"]] == ["ok", "ok"]
    for recorder in (baker, other):
        assert len(recorder.queries()) == 2
        for path, headers in recorder.requests:
            assert "Cookie" not in headers, (path, headers)


# --- M3: whose fault a failure is -------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "shown", "opens"),
    [
        (400, "http_error", False),
        (404, "http_error", False),
        (422, "http_error", False),
        (401, "unauthorized", True),
        (408, "http_error", True),
        (429, "http_error", True),
        (500, "http_error", True),
        (503, "http_error", True),
    ],
)
async def test_only_a_member_in_trouble_opens_its_circuit(
    serve: Serve, aggregator: AggregatorFactory, status: int, shown: str, opens: bool
) -> None:
    """Five refusals of the request (4xx: a range longer than the member allows) say nothing
    about the member's health; five 5xx (or 401, 408, 429) do."""
    recorder = Recorder()
    error = {"errorCode": status, "errorMessage": "range too long for this beacon"}
    refusal = json.dumps({"meta": {"beaconId": "picky.beacon"}, "error": error})
    app = _hostile(lambda _: refusal, status=status, recorder=recorder)
    client = await aggregator(
        [await _start(serve, "picky", app)], failures_to_open=5, deadline=DEADLINE
    )
    for asked in range(1, 7):
        [line] = (await get(client, params=COUNT))["info"]["members"]
        if opens and asked == 6:
            assert line["status"] == "circuit_open", line
        else:
            assert (line["status"], line.get("httpStatus")) == (shown, status), line
    assert len(recorder.queries()) == (5 if opens else 6)


# --- M4: where a member's /map may send us ----------------------------------------------------


def _mapped(root: str, decoy: str, seen: list[str]) -> web.Application:
    """A member under /beacon whose /map gives `root` as its g_variants URL (`{base}`: its own
    URL, `{decoy}`: another server's); every request's raw path and query go to `seen`."""

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.raw_path)
        if request.path == "/beacon/map":
            base = f"{request.scheme}://{request.host}/beacon"
            sets = {"genomicVariation": {"rootUrl": root.format(base=base, decoy=decoy)}}
            body = _body("boolean", 1, response={"endpointSets": sets})
        elif request.path in ("/beacon/info", "/beacon/datasets"):
            body = _body("boolean", 1)
        else:
            body = _body(await _asked(request), 7)
        return web.json_response(body)

    return everywhere(handler)


@pytest.mark.parametrize(
    ("root", "queried"),
    [
        pytest.param("{base}/v2/g_variants", "/beacon/v2/g_variants", id="below-the-member"),
        pytest.param("{base}/../other/g_variants", "/beacon/g_variants", id="dot-dot"),
        pytest.param("{base}/%2e%2e/other/g_variants", "/beacon/g_variants", id="encoded-dot-dot"),
        pytest.param("{base}/g_variants?decoy=1", "/beacon/g_variants", id="query-string"),
        pytest.param("{base}/decoy#g_variants", "/beacon/g_variants", id="fragment"),
        pytest.param("{decoy}/beacon/g_variants", "/beacon/g_variants", id="another-port"),
    ],
)
async def test_map_urls_outside_the_member_are_ignored(
    serve: Serve, aggregator: AggregatorFactory, root: str, queried: str
) -> None:
    """The first row shows /map is read before the query; in the others it names a URL outside
    the member's own (where its token would go too), and the standard path is used instead."""
    seen: list[str] = []
    decoy_seen: list[str] = []
    decoy = await serve(_mapped("", "", decoy_seen))
    member = await serve(_mapped(root, decoy, seen))
    client = await aggregator([Member("mapped", "EU", "mapped", f"{member}/beacon")])
    body = await get(client, params=COUNT)

    assert member_lines(body)["mapped"]["status"] == "ok"
    described = {"/beacon/info", "/beacon/map", "/beacon/datasets"}
    assert [path for path in seen if path not in described] == [queried]
    assert decoy_seen == []


# --- reload ------------------------------------------------------------------------------------

RESTART_ONLY = "these settings change only on restart"


async def test_a_reload_changing_the_cache_size_says_so_and_keeps_working(
    recorded_node: RecordedNodeFactory,
    aggregator_from_file: FileAggregatorFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The cache is built once, at start: a new `cache_entries` is logged as not applied; the
    rest of the file (k here) is."""
    caplog.set_level(logging.WARNING, logger="beacon.aggregator.registry")
    se = await recorded_node("se", SE_ROWS, SAMPLES)

    def config(cache_entries: int, k: int) -> str:
        network = f"[network]\ncache_entries = {cache_entries}\n"
        return toml([("se", se.url)], k=k).replace("[network]\n", network, 1)

    path = tmp_path / "network.toml"
    path.write_text(config(100, 5))
    client = await aggregator_from_file(path)
    assert member_lines(await get(client, params=COUNT))["se"]["count"] == 6
    rewrite(path, config(5, 7))

    async def warned() -> bool:
        return any(r.getMessage() == RESTART_ONLY for r in caplog.records)

    await eventually(warned)
    [record] = [r for r in caplog.records if r.getMessage() == RESTART_ONLY]
    assert record.levelno == logging.WARNING
    assert getattr(record, "kept", None) == "cache_entries"
    # The cache keeps members' own answers (k applies after it): still there, still used.
    body = await get(client, params=COUNT)
    assert body["info"]["network"]["countThreshold"] == 7
    line = member_lines(body)["se"]
    assert (line["status"], line["count"], line["cached"]) == ("ok", 7, True)
    assert len(se.recorder.queries()) == 1
