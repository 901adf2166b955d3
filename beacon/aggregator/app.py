"""The aggregator's one app factory, used by `beacon aggregate`, the demo and the tests."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import aiohttp
from aiohttp import web

from beacon.aggregator.budget import NetworkBudget
from beacon.aggregator.cache import AnswerCache
from beacon.aggregator.delegation import JWKS_PATH, Delegation
from beacon.aggregator.fanout import FanOut
from beacon.aggregator.registry import Registry
from beacon.aggregator.routes import add_routes
from beacon.config import NetworkConfig, Settings
from beacon.keys import FANOUT, NETWORK_BUDGET, REGISTRY
from beacon.node.app import beacon_app

log = logging.getLogger(__name__)

_TICK = 1.0
"""Seconds between checks of the config file and of the refresh schedule."""
_BUDGET_SAVE = 5.0


async def _refresh_all(registry: Registry, session: aiohttp.ClientSession) -> None:
    await asyncio.gather(*(registry.refresh(session, state) for state in registry.states()))


async def _maintain(registry: Registry, session: aiohttp.ClientSession) -> None:
    """Reload the config when its file changes; re-read every member's description regularly."""
    loop = asyncio.get_running_loop()
    last = loop.time()
    while True:
        await asyncio.sleep(_TICK)
        try:
            if registry.changed_on_disk():
                registry.reload()
            if registry.reloaded or loop.time() - last >= registry.network.refresh:
                registry.reloaded = False
                await _refresh_all(registry, session)
                last = loop.time()
        except Exception:  # keep maintaining whatever one round ran into
            log.exception("member maintenance failed; trying again")


async def _network_ctx(app: web.Application) -> AsyncIterator[None]:
    registry = app[REGISTRY]
    network = registry.network
    connector = aiohttp.TCPConnector(
        limit=network.connections_per_member * max(8, len(network.members)),
        limit_per_host=network.connections_per_member,
        ttl_dns_cache=300,
    )
    # Per-call limits are set by each call; this is only the backstop.
    timeout = aiohttp.ClientTimeout(total=120, sock_connect=10)
    # No cookie jar: one member's cookies must never reach another (cookies ignore ports).
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar()
    ) as session:
        delegation = Delegation(network.signer) if network.signer else None
        app[FANOUT] = FanOut(
            session, registry, AnswerCache(network.cache_entries, network.cache_ttl), delegation
        )
        first = asyncio.create_task(_refresh_all(registry, session))
        # Endpoints and datasets help the first queries, but a dead member must not stall
        # start-up: queries work without them (standard paths, no caching).
        await asyncio.wait([first], timeout=min(network.deadline, 5.0))
        # Everything made so far lives as long as the app: keep it out of the collector's way,
        # or full collections over it stall a request now and then (~20 ms each, measured).
        gc.freeze()
        maintainer = asyncio.create_task(_maintain(registry, session))
        saver = asyncio.create_task(_save_budget(app))
        yield
        background = [first, maintainer, saver, *registry.pending()]
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        if NETWORK_BUDGET in app:
            app[NETWORK_BUDGET].save()


async def _save_budget(app: web.Application) -> None:
    """The network budget to disk every few seconds when it changed (and at shutdown)."""
    budget = app.get(NETWORK_BUDGET)
    while budget is not None:
        await asyncio.sleep(_BUDGET_SAVE)
        text = budget.snapshot()  # taken on the loop, written off it
        if text is not None:
            await asyncio.to_thread(budget.write, text)


async def _sighup_ctx(app: web.Application) -> AsyncIterator[None]:
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, app[REGISTRY].reload)
    yield
    loop.remove_signal_handler(signal.SIGHUP)


def create_aggregator_app(
    settings: Settings,
    network: NetworkConfig,
    config_path: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    reload_on_sighup: bool = False,
) -> web.Application:
    """An aggregator over `network`'s members; `config_path` is watched and reloaded on change.

    `environ` resolves members' `token_env` on reload (default: the process environment).
    """
    app = beacon_app(settings)
    app[REGISTRY] = Registry(network, config_path, os.environ if environ is None else environ)
    if settings.access is not None and network.signer is None:
        log.warning(
            "callers are verified but members get the aggregator's own token: budgets and rate "
            "limits at members are then shared by all callers; set [network] signing_key_file "
            "and issuer to carry each caller's pseudonym"
        )
    if network.count_budget_per_day:
        path = settings.data_dir / "network-budget.json"
        app[NETWORK_BUDGET] = NetworkBudget(network.count_budget_per_day, path)
    app.cleanup_ctx.append(_network_ctx)
    if reload_on_sighup:
        app.cleanup_ctx.append(_sighup_ctx)
    add_routes(app)
    if network.signer is not None:
        jwks = network.signer.jwks()

        async def key_set(request: web.Request) -> web.Response:
            return web.json_response(jwks, headers={"Cache-Control": "max-age=300"})

        app.router.add_get(JWKS_PATH, key_set)
    return app
