"""`beacon query` over real HTTP: a real node, a canned aggregator app, a refused port."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from beacon.cli import main
from beacon.client import run_query
from tests.conftest import write_vcf

ROWS = [
    "22 100 . A G . PASS . GT 0/1 1/1 0/0 0/0",
    "22 200 . C T . PASS . GT 0/0 0/0 0/0 0/0",  # AC=0: stored, never found
]

ASKED = web.AppKey("asked", list[dict[str, str]])


@contextlib.asynccontextmanager
async def served(app: web.Application) -> AsyncIterator[str]:
    """`app` served over real HTTP on 127.0.0.1 while in the block; yields its base URL."""
    async with TestServer(app, host="127.0.0.1") as server:
        yield str(server.make_url("")).rstrip("/")


def canned(body: Any, status: int = 200, delay: float = 0.0) -> web.Application:
    """An app answering every /g_variants with `body`, and remembering what it was asked."""
    app = web.Application()
    app[ASKED] = []

    async def answer(request: web.Request) -> web.StreamResponse:
        request.app[ASKED].append(dict(request.query))
        await asyncio.sleep(delay)
        if isinstance(body, str):
            return web.Response(text=body, status=status)
        return web.json_response(body, status=status)

    app.router.add_get("/g_variants", answer)
    return app


async def ask(capsys: Any, variant: str, url: str, **options: Any) -> tuple[int, str, str]:
    options = {"assembly": "GRCh37", "granularity": "count", "time_limit": 10.0, **options}
    code = await run_query(variant, url=url, **options)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
async def node_url(node: Any, ingest: Any, tmp_path: Path) -> str:
    await ingest(write_vcf(tmp_path / "cohort.vcf", ROWS), "cohort")
    return str(node.make_url("")).rstrip("/")


async def test_a_node_gets_one_row_per_dataset(node_url, capsys):
    code, out, err = await ask(capsys, "22-100-A-G", node_url)
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "dataset  exists  count",
        "cohort   yes     1",
        "org.example.beacon: exists yes, total count 1",
    ]


async def test_a_node_miss_and_an_allele_nobody_carries(node_url, capsys):
    for variant in ("22-100-A-T", "22-200-C-T"):
        code, out, _ = await ask(capsys, variant, node_url)
        assert code == 0
        assert out.splitlines()[-2:] == [
            "cohort   no      0",
            "org.example.beacon: exists no, total count 0",
        ]


async def test_a_node_at_boolean_granularity(node_url, capsys):
    code, out, _ = await ask(capsys, "22-100-A-G", node_url, granularity="boolean")
    assert code == 0
    assert out.splitlines()[-1] == "org.example.beacon: exists yes"


async def test_a_beacon_error_body_is_one_line_and_exit_2(node_url, capsys):
    code, out, err = await ask(capsys, "22-100-A-G", node_url, assembly="GRCh99")
    assert (code, out) == (2, "")
    assert err.startswith("error: unknown assembly 'GRCh99'")
    assert err.endswith("(HTTP 400)\n")
    assert len(err.splitlines()) == 1


AGGREGATED = {
    "meta": {"beaconId": "eu.network", "apiVersion": "v2.0.0", "returnedGranularity": "count"},
    "responseSummary": {
        "exists": True,
        "numTotalResults": 15,
        "countPrecision": "imprecise",
        "countAdjustedTo": ["threshold"],
    },
    "info": {
        "members": [
            {"id": "se", "country": "SE", "name": "Sweden", "beaconId": "se.b", "status": "ok",
             "latencyMs": 12.34, "cached": False, "exists": True, "count": 10,
             "countPrecision": "exact"},
            {"id": "fi", "country": "FI", "name": "Finland", "beaconId": "fi.b", "status": "ok",
             "latencyMs": 3.0, "cached": True, "exists": True, "count": 5,
             "countPrecision": "imprecise", "countAdjustedTo": ["threshold"]},
            {"id": "es", "country": "ES", "name": "Spain", "status": "http_error",
             "latencyMs": 40.0, "cached": False, "httpStatus": 500, "detail": "HTTP 500"},
            {"id": "pt", "country": "PT", "name": "Portugal", "status": "timeout",
             "latencyMs": 3000.0, "cached": False, "detail": "no answer within 3 s"},
        ]
    },
}  # fmt: skip


async def test_an_aggregator_gets_one_row_per_member(capsys):
    app = canned(AGGREGATED)
    async with served(app) as url:
        code, out, err = await ask(capsys, "17-43045712-g-a", url, assembly="GRCh38")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "member  country  status          exists  count  latency ms  detail",
        "se      SE       ok              yes     10     12.3",
        "fi      FI       ok              yes     5*     3.0",
        "es      ES       http_error 500  -       -      40.0        HTTP 500",
        "pt      PT       timeout         -       -      3000.0      no answer within 3 s",
        "* not exact: threshold (a true count from 1 to k-1 is shown as k)",
        "network: exists yes, total count 15 (countPrecision imprecise: threshold)",
    ]
    assert app[ASKED] == [
        {
            "referenceName": "17",
            "start": "43045711",
            "referenceBases": "G",
            "alternateBases": "A",
            "assemblyId": "GRCh38",
            "requestedGranularity": "count",
            "includeResultsetResponses": "ALL",
        }
    ]


async def test_an_aggregator_at_boolean_granularity(capsys):
    members = [{"id": "se", "country": "SE", "status": "ok", "latencyMs": 1.0, "exists": False}]
    body = {"meta": {}, "responseSummary": {"exists": False}, "info": {"members": members}}
    async with served(canned(body)) as url:
        code, out, _ = await ask(capsys, "1-1-A-C", url, granularity="boolean")
    assert code == 0
    assert out.splitlines() == [
        "member  country  status  exists  count  latency ms",
        "se      SE       ok      no      -      1.0",
        "network: exists no",
    ]


def refused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("variant", "url", "message"),
    [
        (
            "22-100-A",
            "http://127.0.0.1:1",
            "error: cannot read '22-100-A': write CHROM-POS-REF-ALT",
        ),
        ("22-0-A-G", "http://127.0.0.1:1", "error: VCF positions start at 1"),
        ("22-100-A-G", "127.0.0.1:5050", "error: 127.0.0.1:5050 is not an http:// or https:// URL"),
    ],
)
async def test_unreadable_input_is_exit_2_before_any_request(capsys, variant, url, message):
    code, out, err = await ask(capsys, variant, url)
    assert (code, out) == (2, "")
    assert err.startswith(message)
    assert len(err.splitlines()) == 1


async def test_a_refused_port_is_exit_2(capsys):
    url = f"http://127.0.0.1:{refused_port()}"
    code, out, err = await ask(capsys, "22-100-A-G", url)
    assert (code, out, err) == (2, "", f"error: cannot reach {url}: connection refused\n")


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ("<html>bad gateway</html>", 502, "answered HTTP 502 without a Beacon JSON body"),
        ({"meta": {}}, 200, "answered HTTP 200 without a Beacon answer"),
        ({"error": {"errorCode": 503, "errorMessage": "down"}}, 503, "error: down (HTTP 503)"),
    ],
)
async def test_what_is_not_an_answer_is_exit_2(capsys, body, status, message):
    async with served(canned(body, status)) as url:
        code, out, err = await ask(capsys, "22-100-A-G", url)
    assert (code, out) == (2, "")
    assert message in err
    assert len(err.splitlines()) == 1


async def test_a_slow_beacon_is_cut_off_at_the_time_limit(capsys):
    async with served(canned(AGGREGATED, delay=0.5)) as url:
        code, out, err = await ask(capsys, "22-100-A-G", url, time_limit=0.1)
    assert (code, out, err) == (2, "", f"error: {url} did not answer within 0.1 s\n")


async def test_beacon_query_on_the_command_line(node_url, capsys):
    """Through `beacon.cli.main`, which runs its own event loop (hence a thread here)."""
    argv = ["query", "22-100-A-G", "--url", node_url, "--assembly", "GRCh37", "--timeout", "10"]
    assert await asyncio.to_thread(main, argv) == 0
    assert capsys.readouterr().out.splitlines()[1] == "cohort   yes     1"
    assert await asyncio.to_thread(main, ["query", "22-100", "--url", node_url]) == 2
    assert capsys.readouterr().err.startswith("error: cannot read '22-100'")


ESCAPES = "\x1b[2J\x1b]0;owned\x07"
"""Clear the screen, retitle the terminal: what a hostile beacon may try through our output."""


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            {**AGGREGATED, "info": {"members": [
                {"id": "se" + ESCAPES, "country": "SE", "status": "timeout", "latencyMs": 3.0,
                 "detail": "no answer " + ESCAPES},
            ]}},
            id="aggregator",
        ),
        pytest.param(
            {"meta": {"beaconId": "node" + ESCAPES},
             "responseSummary": {"exists": True, "numTotalResults": 1},
             "response": {"resultSets": [{"id": "cohort" + ESCAPES, "exists": True,
                                          "resultsCount": 1}]}},
            id="node",
        ),
    ],
)  # fmt: skip
async def test_remote_text_is_printed_without_control_characters(capsys, body):
    async with served(canned(body)) as url:
        code, out, err = await ask(capsys, "22-100-A-G", url)
    assert (code, err) == (0, "")
    assert "?[2J?]0;owned?" in out
    assert all(c.isprintable() for line in out.splitlines() for c in line)


async def test_a_remote_error_message_is_printed_without_control_characters(capsys):
    body = {"error": {"errorCode": 503, "errorMessage": "down" + ESCAPES}}
    async with served(canned(body, 503)) as url:
        code, out, err = await ask(capsys, "22-100-A-G", url)
    assert (code, out) == (2, "")
    assert err == "error: down?[2J?]0;owned? (HTTP 503)\n"
