"""The aggregator's handlers: the node's framework endpoints, and queries fanned out to members."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

from aiohttp import web

from beacon.aggregator.budget import NETWORK_BUDGET_NOTE
from beacon.aggregator.fanout import MemberRequest, json_payload
from beacon.aggregator.merge import merge
from beacon.aggregator.outcomes import scalars
from beacon.aggregator.registry import MemberState
from beacon.aggregator.responses import network_answer
from beacon.errors import InvalidRequest, NotFound
from beacon.keys import FANOUT, NETWORK_BUDGET, REGISTRY, SETTINGS, VALIDATORS
from beacon.node.middleware import REQUEST_ID, principal
from beacon.node.params import CONTROL_KEYS, VARIANT_ID, read_params, single_variant_params
from beacon.node.responses import (
    API_VERSION,
    INDIVIDUAL_SCHEMA,
    VARIANT_SCHEMA,
    Received,
    collections_body,
    informational_meta,
)
from beacon.node.routes import add_beacon_routes
from beacon.query import parse_query
from beacon.results import Granularity


def _json(body: dict[str, Any]) -> web.Response:
    return web.json_response(body)


def _check_dataset_ids(request: web.Request, wanted: list[str]) -> None:
    """An id no member has is a 400, as at a node, once every member's datasets are known."""
    if not wanted:
        return
    known = [state.dataset_ids for state in request.app[REGISTRY].states()]
    if any(ids is None for ids in known):
        return
    everything = frozenset().union(*(ids for ids in known if ids is not None))
    unknown = sorted(set(wanted) - everything)
    if unknown:
        raise InvalidRequest(f"unknown dataset id(s): {', '.join(unknown)}")


async def _answer(
    request: web.Request,
    received: Received,
    member_request: MemberRequest,
    schema: dict[str, str],
    notes: dict[str, str],
) -> web.Response:
    started = time.monotonic()
    app = request.app
    network = app[REGISTRY].network  # the configuration the fan-out below will use
    outcomes = await app[FANOUT].ask_all(member_request, request.get(REQUEST_ID, ""))
    merged = merge(outcomes, granularity=member_request.granularity, k=network.k)
    elapsed = time.monotonic() - started
    return _json(network_answer(app[SETTINGS], network, received, merged, schema, elapsed, notes))


def _budgeted(
    request: web.Request, granularity: Granularity, asked: str
) -> tuple[Granularity, dict[str, str]]:
    """The granularity the network's own budget allows this caller now (a count or records
    spend one of the day's count answers, unless `asked` was counted today), and why if less."""
    budget = request.app.get(NETWORK_BUDGET)
    if budget is None or granularity < Granularity.COUNT:
        return granularity, {}
    person = budget.person(principal(request).subject, request.remote or "")
    if budget.spend(person, asked):
        return granularity, {}
    return Granularity.BOOLEAN, {"networkBudget": NETWORK_BUDGET_NOTE}


async def _query(request: web.Request, entry: str, ceiling: Granularity) -> web.Response:
    settings = request.app[SETTINGS]
    params = await read_params(request, request.app[VALIDATORS])
    received = Received.of(params, settings.default_limit)
    query = parse_query(params, max_span=settings.max_range_bases)  # 400s before any fan-out
    wanted = list(params.get("datasetIds") or [])
    _check_dataset_ids(request, wanted)
    granularity, notes = _budgeted(
        request, min(received.granularity, ceiling), json.dumps([entry, query.canonical()])
    )
    variant = {k: v for k, v in params.items() if k not in CONTROL_KEYS and k != "datasetIds"}
    body = {
        "meta": {"apiVersion": API_VERSION},
        "query": {
            "requestParameters": variant,
            "requestedGranularity": granularity.label,
            "includeResultsetResponses": "ALL",
            "pagination": {"skip": received.skip, "limit": received.limit},
            "testMode": received.test_mode,
        },
    }
    canonical = [entry, query.canonical(), granularity.label, received.test_mode]
    if granularity is Granularity.RECORD:
        canonical += [received.skip, received.limit]
    member_request = MemberRequest(
        entry=entry,
        granularity=granularity,
        canonical=json.dumps(canonical),
        tier=principal(request).tier,
        body=json_payload(body),
        caller=principal(request),
        address=request.remote or "",
        dataset_ids=tuple(wanted),
        limit=received.limit,
    )
    schema = VARIANT_SCHEMA if entry == "g_variants" else INDIVIDUAL_SCHEMA
    return await _answer(request, received, member_request, schema, notes)


async def g_variants(request: web.Request) -> web.Response:
    return await _query(request, "g_variants", request.app[SETTINGS].max_granularity)


async def individuals(request: web.Request) -> web.Response:
    ceiling = min(request.app[SETTINGS].max_granularity, Granularity.COUNT)
    return await _query(request, "individuals", ceiling)


async def g_variant_by_id(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    key = request.match_info["id"]
    if not VARIANT_ID.match(key):
        raise InvalidRequest("malformed variant id")
    params = single_variant_params(request.query, request.app[VALIDATORS])
    received = Received.of({"requestedGranularity": "record", **params}, settings.default_limit)
    wanted = list(params.get("datasetIds") or [])
    _check_dataset_ids(request, wanted)
    granularity, notes = _budgeted(
        request, min(received.granularity, settings.max_granularity), json.dumps(["variant", key])
    )
    forwarded = {
        "requestedGranularity": granularity.label,
        "includeResultsetResponses": "ALL",
        "skip": str(received.skip),
        "limit": str(received.limit),
        "testMode": str(received.test_mode).lower(),
    }
    canonical = ["variant", key, granularity.label, received.test_mode]
    if granularity is Granularity.RECORD:
        canonical += [received.skip, received.limit]
    member_request = MemberRequest(
        entry="variant",
        granularity=granularity,
        canonical=json.dumps(canonical),
        tier=principal(request).tier,
        params=forwarded,
        caller=principal(request),
        address=request.remote or "",
        variant_id=key,
        dataset_ids=tuple(wanted),
        limit=received.limit,
    )
    return await _answer(request, received, member_request, VARIANT_SCHEMA, notes)


def _member_datasets(request: web.Request) -> list[dict[str, Any]]:
    """Every dataset the members listed at their last refresh, stamped with the member."""
    found = []
    for state in request.app[REGISTRY].states():
        for dataset in state.datasets:
            record = {
                k: dataset[k]
                for k in ("id", "name", "description", "createDateTime", "updateDateTime")
                if isinstance(dataset.get(k), str)
            }
            record.setdefault("name", record["id"])
            if isinstance(dataset.get("version"), str):
                record["version"] = dataset["version"]
            record["info"] = {
                **scalars(dataset.get("info")),
                "beaconId": state.beacon_id,
                "memberId": state.member.id,
                "country": state.member.country,
            }
            found.append(record)
    return found


def _collections(request: web.Request, datasets: list[dict[str, Any]]) -> web.Response:
    return _json(collections_body(request.app[SETTINGS], datasets))


async def _fresh_datasets(request: web.Request) -> list[dict[str, Any]]:
    """Members' datasets no older than `versions_max_age` (re-read within the deadline), so an
    aggregator above this one keys its cache on current versions."""
    registry, fanout = request.app[REGISTRY], request.app[FANOUT]

    async def one(state: MemberState) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(min(state.member.timeout, registry.network.deadline)):
                await registry.current_versions(fanout.session, state)

    await asyncio.gather(*(one(state) for state in registry.states()))
    return _member_datasets(request)


async def datasets_list(request: web.Request) -> web.Response:
    return _collections(request, await _fresh_datasets(request))


async def dataset_one(request: web.Request) -> web.Response:
    wanted = request.match_info["id"]
    found = [d for d in await _fresh_datasets(request) if d["id"] == wanted]
    if not found:
        raise NotFound(f"no member has a dataset {wanted!r}")
    return _collections(request, found)


async def health(request: web.Request) -> web.Response:
    """The aggregator is up; each member's last refresh problem and breaker state."""
    now = time.monotonic()
    network = request.app[REGISTRY].network
    members = [
        {
            "id": state.member.id,
            "reachable": state.problem is None,
            "problem": state.problem or "",
            "consecutiveFailures": state.breaker.failures,
            "circuitOpen": state.breaker.failures >= network.failures_to_open
            and state.breaker.reopens_in(now) > 0,
        }
        for state in request.app[REGISTRY].states()
    ]
    meta = informational_meta(request.app[SETTINGS], [])
    return _json({"meta": meta, "status": "ok", "members": members})


def add_routes(app: web.Application) -> None:
    add_beacon_routes(
        app,
        entries={
            "/datasets": datasets_list,
            "/datasets/{id}": dataset_one,
            "/g_variants/{id}": g_variant_by_id,
            "/health": health,
        },
        queries={"/g_variants": g_variants, "/individuals": individuals},
    )
