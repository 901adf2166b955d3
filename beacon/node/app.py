"""The node's one app factory, used by `beacon serve` and by the tests alike."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web

from beacon.audit import COLLECTION as AUDIT_COLLECTION
from beacon.audit import AuditLog
from beacon.bodies import read_capped
from beacon.config import Settings
from beacon.keys import AUDIT, GUARD, KEY_SETS, LIMITER, SETTINGS, STORE, USERINFO, VALIDATORS
from beacon.node.middleware import auth_middleware, error_middleware
from beacon.node.protect import Guard
from beacon.node.routes import add_routes
from beacon.ratelimit import RateLimiter
from beacon.schemas import Validators
from beacon.store.connect import database
from beacon.store.ledger import Ledger
from beacon.store.mongo import MongoStore
from beacon.store.reference import ReferenceFrequencies
from beacon.tokens import KeySets, UserInfo

log = logging.getLogger(__name__)


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
        db = client[settings.db_name]
        reference = ReferenceFrequencies(db)
        app[GUARD] = Guard(settings.policy, settings.protection, store, Ledger(db), reference)
        if settings.policy.enforced and settings.protection.gate:
            await _warn_without_reference(store, reference)
        audit = AuditLog(
            settings.audit_path, client[settings.db_name][AUDIT_COLLECTION].insert_many
        )
        app[AUDIT] = audit
        writer = asyncio.create_task(audit.run())
        yield
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)


async def _warn_without_reference(store: MongoStore, reference: ReferenceFrequencies) -> None:
    """PUBLIC callers get no answer for datasets of an assembly without reference frequencies:
    say so once at start-up rather than leave the operator to wonder."""
    loaded = await reference.loaded()
    for assembly in sorted({d.assembly for d in await store.datasets()} - set(loaded)):
        log.warning(
            "no reference frequencies loaded for %s: PUBLIC callers get 'not answerable' for "
            "its datasets; load some with `beacon reference load FILE --assembly %s`",
            assembly,
            assembly,
        )


def beacon_app(settings: Settings) -> web.Application:
    """What every Beacon endpoint of ours shares, node or aggregator: error middleware, request
    limits, settings and compiled validators."""
    # A GET may spell out a long allele; let its URL be as long as a POST body may be.
    line_limit = max(8190, settings.max_body_bytes)
    app = web.Application(
        middlewares=[error_middleware, auth_middleware],
        client_max_size=settings.max_body_bytes,
        handler_args={"max_line_size": line_limit},
    )
    app[SETTINGS] = settings
    app[VALIDATORS] = Validators.load()
    if settings.access is not None:
        app.cleanup_ctx.append(_key_sets_ctx)
        if settings.protection.rate_per_minute:
            app[LIMITER] = RateLimiter(settings.protection.rate_per_minute)
    return app


_KEY_SET_BYTES = 256 * 1024


async def _key_sets_ctx(app: web.Application) -> AsyncIterator[None]:
    """Issuers' key sets, read through one session of the app's own, with a timeout."""
    timeout = aiohttp.ClientTimeout(total=3)
    async with aiohttp.ClientSession(
        timeout=timeout, cookie_jar=aiohttp.DummyCookieJar()
    ) as session:

        async def get_object(url: str, what: str, headers: dict[str, str]) -> dict[str, Any]:
            async with session.get(url, headers=headers, allow_redirects=False) as response:
                response.raise_for_status()
                raw = await read_capped(response, _KEY_SET_BYTES)
            document = json.loads(raw)
            if not isinstance(document, dict):
                raise ValueError(f"{what} is not a JSON object")
            return document

        async def fetch(url: str) -> dict[str, Any]:
            return await get_object(url, "key set", {})

        async def fetch_userinfo(url: str, token: str) -> dict[str, Any]:
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            return await get_object(url, "userinfo", headers)

        app[KEY_SETS] = KeySets(fetch)
        app[USERINFO] = UserInfo(fetch_userinfo)
        yield


def create_node_app(settings: Settings) -> web.Application:
    """A Beacon v2 node; its database opens when the app starts and closes when it stops."""
    app = beacon_app(settings)
    app.cleanup_ctx.append(_store_ctx)
    add_routes(app)
    return app
