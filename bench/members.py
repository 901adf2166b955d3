"""Fake member beacons for bench/aggregator.py: many small aiohttp apps in one process.

    python bench/members.py PORT [PORT ...] [--delay-ms 20] [--hang PORT ...]

Each port is one member with its own beacon id and one dataset. /info, /map and /datasets answer
at once (the aggregator reads them at start-up); /g_variants (GET or POST) waits `--delay-ms`, then
answers a count-granularity Beacon v2 answer shaped like the node's (resultsCount 12). A member
listed in `--hang` answers its framework endpoints but never answers a query. Prints `ready` on
stdout once every port listens; stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any

from aiohttp import web

from beacon.node.responses import API_VERSION, VARIANT_SCHEMA

COUNT = 12
BEACON_ID = web.AppKey("beacon_id", str)
BASE = web.AppKey("base", str)
DELAY = web.AppKey("delay", float)


def _meta(request: web.Request) -> dict[str, Any]:
    return {"beaconId": request.app[BEACON_ID], "apiVersion": API_VERSION, "returnedSchemas": []}


async def info(request: web.Request) -> web.Response:
    beacon_id = request.app[BEACON_ID]
    body = {"id": beacon_id, "name": f"bench member {beacon_id}", "apiVersion": API_VERSION}
    return web.json_response({"meta": _meta(request), "response": body})


async def beacon_map(request: web.Request) -> web.Response:
    base = request.app[BASE]
    sets = {
        "genomicVariation": {"entryType": "genomicVariation", "rootUrl": f"{base}/g_variants"},
        "dataset": {"entryType": "dataset", "rootUrl": f"{base}/datasets"},
    }
    return web.json_response({"meta": _meta(request), "response": {"endpointSets": sets}})


async def datasets(request: web.Request) -> web.Response:
    dataset = {
        "id": f"{request.app[BEACON_ID]}-cohort",
        "name": "bench cohort",
        "version": "1",
        "info": {"assemblyId": "GRCh37"},
    }
    return web.json_response(
        {
            "meta": _meta(request),
            "responseSummary": {"exists": True, "numTotalResults": 1},
            "response": {"collections": [dataset]},
        }
    )


async def g_variants(request: web.Request) -> web.Response:
    """A count answer after the member's delay; what was asked is echoed as a node would."""
    if request.method == "POST":
        query = (await request.json()).get("query", {})
        params = query.get("requestParameters", {})
    else:
        query, params = {}, dict(request.query)
    await asyncio.sleep(request.app[DELAY])
    return web.json_response(_count_answer(request.app[BEACON_ID], params, query))


async def hang(request: web.Request) -> web.Response:
    """Accept the query and never answer; the handler is cancelled when the caller leaves."""
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


def _count_answer(beacon_id: str, params: dict[str, Any], query: dict[str, Any]) -> dict[str, Any]:
    summary = {
        "apiVersion": API_VERSION,
        "requestedSchemas": [],
        "pagination": query.get("pagination", {"skip": 0, "limit": 10}),
        "requestedGranularity": "count",
        "includeResultsetResponses": "HIT",
        "requestParameters": {"g_variant": params},
        "filters": [],
        "testMode": False,
    }
    result_set = {
        "id": f"{beacon_id}-cohort",
        "setType": "dataset",
        "exists": True,
        "resultsCount": COUNT,
        "results": [],
        "info": {"assemblyId": "GRCh37", "release": "1"},
    }
    return {
        "meta": {
            "beaconId": beacon_id,
            "apiVersion": API_VERSION,
            "returnedSchemas": [VARIANT_SCHEMA],
            "returnedGranularity": "count",
            "receivedRequestSummary": summary,
            "testMode": False,
        },
        "responseSummary": {"exists": True, "numTotalResults": COUNT},
        "response": {"resultSets": [result_set]},
    }


def member_app(port: int, delay: float, hangs: bool) -> web.Application:
    app = web.Application()
    app[BEACON_ID] = f"bench.member.{port}"
    app[BASE] = f"http://127.0.0.1:{port}"
    app[DELAY] = delay
    query = hang if hangs else g_variants
    app.router.add_get("/info", info)
    app.router.add_get("/map", beacon_map)
    app.router.add_get("/datasets", datasets)
    app.router.add_get("/g_variants", query)
    app.router.add_post("/g_variants", query)
    return app


async def serve(ports: list[int], delay: float, hanging: set[int]) -> None:
    runners = []
    for port in ports:
        runner = web.AppRunner(
            member_app(port, delay, port in hanging), access_log=None, handler_cancellation=True
        )
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
        runners.append(runner)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    await stop.wait()
    for runner in runners:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("ports", type=int, nargs="+")
    parser.add_argument("--delay-ms", type=float, default=20.0)
    parser.add_argument("--hang", type=int, nargs="*", default=[], help="ports that never answer")
    args = parser.parse_args()
    asyncio.run(serve(args.ports, args.delay_ms / 1000, set(args.hang)))


if __name__ == "__main__":
    main()
