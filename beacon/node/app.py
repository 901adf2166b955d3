"""The node's one app factory, used by `beacon serve` and by the tests alike."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from beacon.config import Settings
from beacon.keys import SETTINGS, STORE, VALIDATORS
from beacon.node.middleware import error_middleware
from beacon.node.routes import add_routes
from beacon.schemas import Validators
from beacon.store.connect import database
from beacon.store.mongo import MongoStore


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    async with database(settings) as client:
        store = MongoStore(
            client,
            settings.db_name,
            catalog_ttl=settings.catalog_ttl,
            cache_alleles=settings.cache_alleles,
        )
        await store.ping()
        app[STORE] = store
        yield


def beacon_app(settings: Settings) -> web.Application:
    """What every Beacon endpoint of ours shares, node or aggregator: error middleware, request
    limits, settings and compiled validators."""
    # A GET may spell out a long allele; let its URL be as long as a POST body may be.
    line_limit = max(8190, settings.max_body_bytes)
    app = web.Application(
        middlewares=[error_middleware],
        client_max_size=settings.max_body_bytes,
        handler_args={"max_line_size": line_limit},
    )
    app[SETTINGS] = settings
    app[VALIDATORS] = Validators.load()
    return app


def create_node_app(settings: Settings) -> web.Application:
    """A Beacon v2 node; its database opens when the app starts and closes when it stops."""
    app = beacon_app(settings)
    app.cleanup_ctx.append(_store_ctx)
    add_routes(app)
    return app
