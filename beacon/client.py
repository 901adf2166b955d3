"""`beacon query`: ask a node or an aggregator about one variant and print the answer as a table.

    beacon query 17-43045712-G-A --assembly GRCh38 --url http://127.0.0.1:5050

An aggregator's answer gets one row per member (from its top-level `info.members`) and a network
line; a node's answer one row per dataset. Problems print one line to stderr and exit with 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

import aiohttp

from beacon.errors import InvalidRequest
from beacon.query import parse_short_form

DEFAULT_URL = "http://127.0.0.1:5050"
FAILED = 2
_GRANULARITIES = ("boolean", "count", "record")


class QueryFailed(Exception):
    """The query got no usable answer; the message is the one line the user sees."""


def request_params(variant: str, assembly: str, granularity: str) -> dict[str, str]:
    """GET parameters for a short-form variant; raises InvalidRequest when it cannot be read."""
    params = parse_short_form(variant)
    found = {k: ",".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in params.items()}
    # ALL: a node's datasets that miss get their row too.
    return {
        **found,
        "assemblyId": assembly,
        "requestedGranularity": granularity,
        "includeResultsetResponses": "ALL",
    }


async def fetch_answer(
    url: str, params: dict[str, str], time_limit: float, entry: str = "g_variants"
) -> dict[str, Any]:
    """GET `{url}/{entry}` within `time_limit` s; raises QueryFailed unless answered."""
    if not url.startswith(("http://", "https://")):
        raise QueryFailed(f"{url} is not an http:// or https:// URL")
    endpoint = url.rstrip("/") + "/" + entry
    limits = aiohttp.ClientTimeout(total=time_limit)
    try:
        async with (
            aiohttp.ClientSession(timeout=limits) as session,
            session.get(endpoint, params=params) as response,
        ):
            status, text = response.status, await response.text()
    except TimeoutError:
        raise QueryFailed(f"{url} did not answer within {time_limit:g} s") from None
    except aiohttp.ClientConnectorError as exc:
        refused = isinstance(exc.os_error, ConnectionRefusedError)
        reason = "connection refused" if refused else exc.strerror or str(exc)
        raise QueryFailed(f"cannot reach {url}: {reason}") from None
    except aiohttp.ClientError as exc:
        raise QueryFailed(f"no answer from {url}: {exc}") from None
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise QueryFailed(f"{endpoint} answered HTTP {status} without a Beacon JSON body")
    error = body.get("error")
    if isinstance(error, dict):
        raise QueryFailed(f"{error.get('errorMessage') or 'error'} (HTTP {status})")
    if status != 200 or not isinstance(body.get("responseSummary"), dict):
        raise QueryFailed(f"{endpoint} answered HTTP {status} without a Beacon answer")
    return body


def _printable(text: str) -> str:
    """Text from a remote beacon without control characters (no terminal escapes)."""
    return "".join(c if c.isprintable() else "?" for c in text)


def _section(body: dict[str, Any], key: str) -> dict[str, Any]:
    """`body[key]` when it is an object, else an empty one: the answer is checked only loosely."""
    value = body.get(key)
    return value if isinstance(value, dict) else {}


def _yes(value: Any) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _count(section: dict[str, Any], key: str) -> str:
    """The count, starred when it is not exact (a threshold raised it, for one)."""
    if section.get(key) is None:
        return "-"
    return f"{section[key]}" + ("" if section.get("countPrecision", "exact") == "exact" else "*")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    ]


def member_lines(body: dict[str, Any]) -> list[str]:
    """An aggregator's answer: one row per member, then the network's line."""
    members = [m for m in body["info"]["members"] if isinstance(m, dict)]
    header = ["member", "country", "status", "exists", "count", "latency ms"]
    rows = [_member_row(m) for m in members]
    if any(m.get("detail") for m in members):
        header.append("detail")
        rows = [[*row, str(m.get("detail", ""))] for row, m in zip(rows, members, strict=True)]
    lines = _table(header, rows)
    return [*lines, *_footnote(members), _summary("network", body["responseSummary"])]


def _member_row(member: dict[str, Any]) -> list[str]:
    status = str(member.get("status", "?"))
    if member.get("httpStatus") is not None:
        status += f" {member['httpStatus']}"
    latency = member.get("latencyMs")
    return [
        str(member.get("id", "?")),
        str(member.get("country", "")),
        status,
        _yes(member.get("exists")),
        _count(member, "count"),
        "-" if not isinstance(latency, int | float) else f"{latency:.1f}",
    ]


def node_lines(body: dict[str, Any]) -> list[str]:
    """A node's answer: one row per result set (dataset), then the beacon's line."""
    found = _section(body, "response").get("resultSets")
    sets = [s for s in found if isinstance(s, dict)] if isinstance(found, list) else []
    lines = []
    if sets:
        rows = [
            [str(s.get("id", "?")), _yes(s.get("exists")), _count(s, "resultsCount")] for s in sets
        ]
        lines = _table(["dataset", "exists", "count"], rows) + _footnote(sets)
    beacon = str(_section(body, "meta").get("beaconId", "beacon"))
    return [*lines, _summary(beacon, body["responseSummary"])]


_WHY = {"threshold": "a true count from 1 to k-1 is shown as k"}


def _footnote(parts: list[dict[str, Any]]) -> list[str]:
    """What the stars mean: the rules that adjusted the starred counts."""
    adjusted = [p for p in parts if p.get("countPrecision", "exact") != "exact"]
    if not adjusted:
        return []
    why = sorted({str(a) for p in adjusted for a in p.get("countAdjustedTo") or ()})
    told = [f"{w} ({_WHY[w]})" if w in _WHY else w for w in why]
    return ["* not exact: " + ("; ".join(told) or "imprecise upstream")]


def _summary(label: str, summary: dict[str, Any]) -> str:
    line = f"{label}: exists {_yes(summary.get('exists'))}"
    if summary.get("numTotalResults") is not None:
        line += f", total count {summary['numTotalResults']}"
    precision = summary.get("countPrecision", "exact")
    if precision != "exact":
        adjusted = ", ".join(map(str, summary.get("countAdjustedTo") or ()))
        line += f" (countPrecision {precision}" + (f": {adjusted})" if adjusted else ")")
    return line


def answer_lines(body: dict[str, Any]) -> list[str]:
    """The table for an aggregator's answer (it lists its members) or a node's."""
    members = _section(body, "info").get("members")
    return member_lines(body) if isinstance(members, list) else node_lines(body)


async def run_query(
    variant: str,
    *,
    url: str,
    assembly: str,
    granularity: str,
    time_limit: float,
    individuals: bool = False,
) -> int:
    """Ask, print the table to stdout; a problem is one line on stderr and exit status 2.

    `individuals` counts the people carrying the variant (`/individuals`) instead of the
    matching allele records (`/g_variants`, one per dataset for an exact variant).
    """
    entry = "individuals" if individuals else "g_variants"
    if individuals and granularity == "record":
        granularity = "count"  # individuals are counted, never listed
    try:
        params = request_params(variant, assembly, granularity)
        body = await fetch_answer(url, params, time_limit, entry)
    except InvalidRequest as exc:
        print(f"error: {_printable(exc.message)}", file=sys.stderr)
        return FAILED
    except QueryFailed as exc:
        print(f"error: {_printable(str(exc))}", file=sys.stderr)
        return FAILED
    print("\n".join(_printable(line) for line in answer_lines(body)))
    return 0


def query(args: argparse.Namespace) -> int:
    return asyncio.run(
        run_query(
            args.variant,
            url=args.url,
            assembly=args.assembly,
            granularity=args.granularity,
            time_limit=args.timeout,
            individuals=args.individuals,
        )
    )


def _positive_seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def add_query_command(commands: Any) -> None:
    """Registered by cli.py."""
    ask = commands.add_parser("query", help="ask a beacon or aggregator about one variant")
    ask.add_argument(
        "variant", help="CHROM-POS-REF-ALT with a 1-based VCF POS, e.g. 17-43045712-G-A"
    )
    ask.add_argument(
        "--url", default=DEFAULT_URL, help=f"beacon or aggregator (default {DEFAULT_URL})"
    )
    ask.add_argument("--assembly", default="GRCh38", help="GRCh37 or GRCh38 (default GRCh38)")
    ask.add_argument("--granularity", choices=_GRANULARITIES, default="count")
    ask.add_argument(
        "--individuals",
        action="store_true",
        help="count the individuals carrying it (/individuals), not allele records",
    )
    ask.add_argument("--timeout", type=_positive_seconds, default=30.0, help="seconds (default 30)")
    ask.set_defaults(func=query)
