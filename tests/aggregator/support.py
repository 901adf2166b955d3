"""Helpers shared by more than one aggregator test module (not a test module itself)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from functools import cache
from pathlib import Path
from typing import Any

from aiohttp import web
from jsonschema import Draft202012Validator

from beacon.aggregator.merge import inconsistency
from beacon.auth import ANONYMOUS
from beacon.config import BeaconInfo, Settings
from beacon.node.responses import Received, variant_answer
from beacon.privacy import disclose
from beacon.query import sequence_allele
from beacon.results import AlleleCounts, DatasetHits, Granularity, VariantHit
from beacon.schemas import compile_schema
from tests.test_privacy import dataset

# --- deadlines and member apps ------------------------------------------------------------

DEADLINE = 1.0
"""The network deadline, in seconds, of the tests that time the aggregator."""
MARGIN = 0.5
"""Seconds the aggregator may take past its deadline (its own grace is 0.25 s)."""


def everywhere(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.Application:
    """An app answering every path and method (its /info and /datasets too) with `handler`."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return app


# --- asking the aggregator -----------------------------------------------------------------


async def timed(
    client: Any, method: str, path: str, **kw: Any
) -> tuple[int, dict[str, Any], float]:
    """The status, JSON body and seconds taken of one request to `client`."""
    started = time.monotonic()
    response = await client.request(method, path, **kw)
    body: dict[str, Any] = await response.json()
    return response.status, body, time.monotonic() - started


async def get(client: Any, path: str = "/g_variants", **kw: Any) -> dict[str, Any]:
    """The JSON body of a GET to `client` at `path`, which must answer 200."""
    response = await client.get(path, **kw)
    body: dict[str, Any] = await response.json()
    assert response.status == 200, body
    return body


def member_lines(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A network answer's member lines, by member id."""
    return {line["id"]: line for line in body["info"]["members"]}


# --- config reload -------------------------------------------------------------------------


def toml(
    members: list[tuple[str, str]],
    deadline: float = 2.0,
    k: int = 5,
    tokens: dict[str, str] | None = None,
) -> str:
    """A network.toml (schemas/network.json); `tokens` maps member ids to a token_env."""
    text = f"[network]\ndeadline_seconds = {deadline}\nk = {k}\n"
    for member_id, url in members:
        text += (
            f'\n[[members]]\nid = "{member_id}"\ncountry = "{member_id[:2].upper()}"\n'
            f'name = "{member_id} beacon"\nurl = "{url}"\ntimeout_seconds = {deadline}\n'
        )
        if tokens and member_id in tokens:
            text += f'token_env = "{tokens[member_id]}"\n'
    return text


def rewrite(path: Path, text: str) -> None:
    """Write `text` and move the mtime on, so that even a coarse clock sees a change."""
    before = path.stat().st_mtime_ns
    path.write_text(text)
    later = max(path.stat().st_mtime_ns, before + 1_000_000_000)
    os.utime(path, ns=(later, later))


async def eventually(check: Any, within: float = 3.0) -> None:
    """Poll the async `check` until it returns True; fail after `within` seconds."""
    stop = time.monotonic() + within
    while not await check():
        assert time.monotonic() < stop, "did not happen in time"
        await asyncio.sleep(0.1)


# --- member answers as our nodes build them ------------------------------------------------


@cache
def member_answer_schema() -> Draft202012Validator:
    """schemas/member_answer.json, compiled once."""
    return compile_schema("member_answer")


def hits(name: str, total: int) -> DatasetHits:
    """`total` matching alleles in dataset `name`, with a record page of up to two of them."""
    counts = AlleleCounts(2, 200, 2, 0, 2, None)
    page = tuple(
        VariantHit(sequence_allele("22", 100 + i, "A", "G"), counts) for i in range(min(total, 2))
    )
    return DatasetHits(dataset(name), total, page, individuals=total)


def node_body(
    beacon_id: str,
    counts: dict[str, int],
    *,
    asked: Granularity = Granularity.COUNT,
    ceiling: Granularity = Granularity.RECORD,
) -> dict[str, Any]:
    """A g_variants answer exactly as a node of ours builds it, every dataset included."""
    settings = Settings(info=BeaconInfo(id=beacon_id))
    params = {"requestedGranularity": asked.label, "includeResultsetResponses": "ALL"}
    received = Received.of(params, 10)
    found = [hits(name, total) for name, total in counts.items()]
    disclosure = disclose(found, principal=ANONYMOUS, requested=asked, ceiling=ceiling)
    body = variant_answer(settings, received, disclosure)
    assert member_answer_schema().is_valid(body)
    assert inconsistency(body, asked) is None
    return body
