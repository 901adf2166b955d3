"""Thin handlers: parameters in, store, privacy, response builder out."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from beacon.audit import AuditEntry
from beacon.errors import Forbidden, InvalidRequest, NotFound, Unauthenticated
from beacon.keys import AUDIT, GUARD, SETTINGS, STORE, VALIDATORS
from beacon.node import framework
from beacon.node.middleware import REQUEST_ID, principal
from beacon.node.openapi import openapi_document
from beacon.node.params import VARIANT_ID, read_params, single_variant_params
from beacon.node.protect import (
    COUNTS_USED,
    NOT_ANSWERABLE,
    TOO_RARE_TO_COUNT,
    Asked,
    Guarded,
)
from beacon.node.responses import (
    Received,
    collections_body,
    dataset_record,
    individuals_answer,
    informational_meta,
    variant_answer,
)
from beacon.privacy import Disclosure, Noise, disclose
from beacon.query import AlleleQuery, parse_query
from beacon.results import DatasetHits, DatasetInfo, Granularity


def _json(body: dict[str, Any]) -> web.Response:
    return web.json_response(body)


def _root(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


async def _params(request: web.Request) -> dict[str, Any]:
    return await read_params(request, request.app[VALIDATORS])


def _received(request: web.Request, params: dict[str, Any]) -> Received:
    return Received.of(params, request.app[SETTINGS].default_limit)


async def _datasets(
    request: web.Request, params: dict[str, Any], assembly: str | None
) -> list[DatasetInfo]:
    known = await request.app[STORE].datasets()
    wanted = params.get("datasetIds")
    if wanted:
        unknown = sorted(set(wanted) - {d.id for d in known})
        if unknown:
            raise InvalidRequest(f"unknown dataset id(s): {', '.join(unknown)}")
        try:
            request.app[SETTINGS].policy.check_named(principal(request), wanted)
        except (Unauthenticated, Forbidden) as refused:
            decision = f"refused_{refused.status}"
            _audit(request, tuple(wanted), requested=params, given=None, decision=decision)
            raise
        known = [d for d in known if d.id in wanted]
    # Datasets the caller may not see are not searched at all.
    caller, policy = principal(request), request.app[SETTINGS].policy
    return [
        d
        for d in known
        if (assembly is None or d.assembly == assembly) and policy.allows(caller, d.id)
    ]


async def _search(
    request: web.Request,
    received: Received,
    query: AlleleQuery,
    datasets: list[DatasetInfo],
    individuals: bool,
) -> list[DatasetHits]:
    if received.test_mode:
        return [
            DatasetHits(d, 0, extra={"note": "testMode: no data was searched"}) for d in datasets
        ]
    limit = received.limit if received.granularity is Granularity.RECORD else 0
    return await request.app[STORE].search(
        query, datasets, skip=received.skip, limit=limit, individuals=individuals
    )


async def _query_and_search(
    request: web.Request, *, individuals: bool
) -> tuple[Received, list[DatasetHits], AlleleQuery]:
    """The shared pipeline of /g_variants and /individuals: parameters -> query -> store."""
    params = await _params(request)
    received = _received(request, params)
    query = parse_query(params, max_span=request.app[SETTINGS].max_range_bases)
    request[ASKED] = query.canonical()
    datasets = await _datasets(request, params, query.assembly)
    return received, await _search(request, received, query, datasets, individuals), query


async def _disclose(
    request: web.Request,
    received: Received,
    found: list[DatasetHits],
    ceiling: Granularity,
    query: AlleleQuery | str,
) -> Disclosure:
    """The tier's defences (gate, budgets), then thresholds and noise: what may be shown."""
    caller, settings = principal(request), request.app[SETTINGS]
    ids = [h.dataset.id for h in found]
    ceiling = min(ceiling, settings.policy.ceiling(caller, ids))
    guarded = Guarded(found)
    # Budgets, history and noise are per dataset, and a dataset has one assembly: naming it
    # (or not) must not make a new question.
    keyed = query.canonical(assembly=False) if isinstance(query, AlleleQuery) else request[ASKED]
    if not received.test_mode:
        asked = Asked(query, keyed, request.path, min(received.granularity, ceiling))
        guarded = await request.app[GUARD].apply(caller, asked, found)
    if guarded.boolean_only:
        ceiling = Granularity.BOOLEAN
    disclosure = disclose(
        guarded.found,
        principal=caller,
        requested=received.granularity,
        ceiling=ceiling,
        k=settings.k,
        exempt=settings.policy.controlled(caller, ids),
        noise=await _noise(request, guarded, keyed),
        notes=_notes(guarded),
    )
    capped = disclosure.granularity < received.granularity
    _audit(
        request,
        tuple(ids),
        requested=received.params,
        given=disclosure.granularity,
        decision=("withheld" if guarded.withheld else "capped" if capped else "answered"),
        spent=guarded.spent,
    )
    return disclosure


async def _noise(request: web.Request, guarded: Guarded, keyed: str) -> Noise | None:
    if not guarded.noised or not request.app[SETTINGS].protection.noise:
        return None
    secret = await request.app[GUARD].ledger.secret()
    epsilon = request.app[SETTINGS].protection.count_epsilon
    return Noise(secret, keyed, epsilon, frozenset(guarded.noised))


def _notes(guarded: Guarded) -> dict[str, Any]:
    notes: dict[str, Any] = {}
    if guarded.withheld:
        notes["notAnswerable"] = {"datasets": guarded.withheld, "message": NOT_ANSWERABLE}
    if guarded.budget_spent:
        notes["countBudget"] = {"datasets": guarded.budget_spent, "message": COUNTS_USED}
    if guarded.too_rare:
        notes["tooRareToCount"] = {"datasets": guarded.too_rare, "message": TOO_RARE_TO_COUNT}
    return notes


ASKED = web.RequestKey("asked", str)
"""The canonical form of what a request asked, for the audit log."""


def _audit(
    request: web.Request,
    datasets: tuple[str, ...],
    *,
    requested: dict[str, Any],
    given: Granularity | None,
    decision: str,
    spent: float = 0.0,
) -> None:
    caller = principal(request)
    request.app[AUDIT].record(
        AuditEntry(
            principal=caller.subject or "anonymous",
            tier=caller.tier,
            endpoint=request.path,
            query=request.get(ASKED, ""),
            datasets=datasets,
            requested=str(requested.get("requestedGranularity", "boolean")),
            given=given.label if given is not None else "",
            decision=decision,
            request_id=request.get(REQUEST_ID, ""),
            budget_spent=spent,
        )
    )


async def g_variants(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    received, found, query = await _query_and_search(request, individuals=False)
    disclosure = await _disclose(request, received, found, settings.max_granularity, query)
    return _json(variant_answer(settings, received, disclosure))


async def individuals(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    received, found, query = await _query_and_search(request, individuals=True)
    for_counts = [
        h
        if h.individuals is not None or received.test_mode
        else DatasetHits(h.dataset, 0, (), 0, {"note": "no genotypes: carriers unknown"})
        for h in found
    ]
    ceiling = min(settings.max_granularity, Granularity.COUNT)
    disclosure = await _disclose(request, received, for_counts, ceiling, query)
    return _json(individuals_answer(settings, received, disclosure))


async def g_variant_by_id(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    key = request.match_info["id"]
    if not VARIANT_ID.match(key):
        raise InvalidRequest("malformed variant id")
    params = single_variant_params(request.query, request.app[VALIDATORS])
    request[ASKED] = json.dumps({"variant": key})
    received = _received(request, {"requestedGranularity": "record", **params})
    datasets = await _datasets(request, params, None)
    found = (
        [DatasetHits(d, 0) for d in datasets]
        if received.test_mode
        else await request.app[STORE].variant(key, datasets)
    )
    disclosure = await _disclose(request, received, found, settings.max_granularity, key)
    return _json(variant_answer(settings, received, disclosure))


def _collections(request: web.Request, datasets: list[DatasetInfo]) -> web.Response:
    settings = request.app[SETTINGS]
    policy = settings.policy
    records = [dataset_record(d) for d in datasets]
    if settings.k > 1:  # an exact total of alleles minus exact range counts would show a hidden one
        for record in records:
            record["info"].pop("alleles", None)
    if policy.enforced:  # every dataset is listed, with the tier a caller needs to query it
        for record, dataset in zip(records, datasets, strict=True):
            record["info"]["accessTier"] = policy.level(dataset.id).name
            if dataset.id in policy.grants:  # what a grant visa names (aggregators pass those on)
                record["info"]["accessGrant"] = policy.grants[dataset.id]
    return _json(collections_body(request.app[SETTINGS], records))


async def datasets_list(request: web.Request) -> web.Response:
    return _collections(request, await request.app[STORE].datasets())


async def dataset_one(request: web.Request) -> web.Response:
    wanted = request.match_info["id"]
    found = [d for d in await request.app[STORE].datasets() if d.id == wanted]
    if not found:
        raise NotFound(f"no dataset {wanted!r}")
    return _collections(request, found)


async def info(request: web.Request) -> web.Response:
    return _json(framework.info_body(request.app[SETTINGS]))


async def service_info(request: web.Request) -> web.Response:
    return _json(framework.service_info_body(request.app[SETTINGS]))


async def configuration(request: web.Request) -> web.Response:
    return _json(framework.configuration_body(request.app[SETTINGS]))


async def beacon_map(request: web.Request) -> web.Response:
    return _json(framework.map_body(request.app[SETTINGS], _root(request)))


async def entry_types(request: web.Request) -> web.Response:
    return _json(framework.entry_types_body(request.app[SETTINGS]))


async def filtering_terms(request: web.Request) -> web.Response:
    return _json(framework.filtering_terms_body(request.app[SETTINGS]))


async def openapi(request: web.Request) -> web.Response:
    return _json(openapi_document(request.app[SETTINGS], _root(request)))


async def health(request: web.Request) -> web.Response:
    await request.app[STORE].ping()
    return _json({"meta": informational_meta(request.app[SETTINGS], []), "status": "ok"})


FRAMEWORK = (
    ("/", info),
    ("/info", info),
    ("/service-info", service_info),
    ("/configuration", configuration),
    ("/map", beacon_map),
    ("/entry_types", entry_types),
    ("/filtering_terms", filtering_terms),
    ("/openapi.json", openapi),
)
"""Endpoints every Beacon of ours answers the same way, node or aggregator."""

Handler = Callable[[web.Request], Awaitable[web.Response]]


def add_beacon_routes(
    app: web.Application, *, entries: dict[str, Handler], queries: dict[str, Handler]
) -> None:
    """The framework endpoints, GET-only `entries`, and `queries` answering GET and POST."""
    for path, handler in (*FRAMEWORK, *entries.items()):
        app.router.add_get(path, handler)
    for path, handler in queries.items():
        app.router.add_get(path, handler)
        app.router.add_post(path, handler)


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
