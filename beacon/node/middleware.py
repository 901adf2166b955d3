"""The one place errors become responses: Beacon error bodies, never stack traces."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable

from aiohttp import web

from beacon.audit import AuditEntry
from beacon.auth import ANONYMOUS, Principal, authenticate
from beacon.errors import BeaconError, TooManyRequests, Unauthenticated
from beacon.keys import AUDIT, KEY_SETS, LIMITER, SETTINGS, USERINFO
from beacon.node.responses import error_body
from beacon.ratelimit import retry_after

log = logging.getLogger(__name__)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_HTTP_MESSAGES = {
    404: "no such endpoint",
    405: "method not allowed on this endpoint",
    413: "the request body is larger than this beacon accepts",
}

REQUEST_ID = web.RequestKey("request_id", str)
"""The request's id (the caller's X-Request-ID when well-formed), for logs and onward calls."""

PRINCIPAL = web.RequestKey("principal", Principal)
"""Who is asking, as `auth_middleware` established it."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(request: web.Request, status: int, message: str) -> web.Response:
    return web.json_response(error_body(request.app[SETTINGS], status, message), status=status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request ids; BeaconError and HTTP errors as Beacon error bodies; anything else a bare 500."""
    given = request.headers.get("X-Request-ID", "")
    request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
    request[REQUEST_ID] = request_id
    response: web.StreamResponse
    try:
        response = await handler(request)
    except BeaconError as exc:
        if exc.status >= 500:
            log.warning("request failed", extra={"request_id": request_id, "reason": exc.message})
        response = _error(request, exc.status, exc.message)
        if isinstance(exc, Unauthenticated):
            response.headers["WWW-Authenticate"] = exc.challenge
        if isinstance(exc, TooManyRequests):
            response.headers["Retry-After"] = exc.retry_after
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = _error(request, exc.status, _HTTP_MESSAGES.get(exc.status, exc.reason))
        if exc.status == 405 and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
    except Exception:
        log.exception("unexpected error", extra={"request_id": request_id, "path": request.path})
        response = _error(request, 500, f"internal error; quote request id {request_id}")
    response.headers["X-Request-ID"] = request_id
    return response


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every request gets its Principal before any handler runs; a bad token is a 401; a client
    over its request limit is a 429 with Retry-After."""
    try:
        request[PRINCIPAL] = await authenticate(
            request.headers.get("Authorization"),
            request.app[SETTINGS].access,
            request.app.get(KEY_SETS),
            request.app.get(USERINFO),
        )
    except Unauthenticated:
        audit = request.app.get(AUDIT)
        if audit is not None:  # probing with forged tokens leaves a trace (never the token)
            audit.record(
                AuditEntry(
                    principal="unverified",
                    tier="",
                    endpoint=request.path,
                    query="",
                    datasets=(),
                    requested="",
                    given="",
                    decision="refused_401_token",
                    request_id=request.get(REQUEST_ID, ""),
                )
            )
        raise
    limiter = request.app.get(LIMITER)
    if limiter is not None and request.path != "/health":
        caller = request[PRINCIPAL]
        wait = limiter.take(caller.subject or f"address:{request.remote}")
        if wait:
            raise TooManyRequests(
                f"too many requests: this beacon answers {limiter.capacity:g} per minute per "
                "client; try again later",
                retry_after=retry_after(wait),
            )
    return await handler(request)


def principal(request: web.Request) -> Principal:
    """The request's caller (anonymous if the auth middleware did not run)."""
    found: Principal = request.get(PRINCIPAL, ANONYMOUS)
    return found
