"""One HTTP call to a member: bounded in time and size, every failure turned into a `Failed`."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import aiohttp

from beacon.aggregator.outcomes import Failed, Status
from beacon.bodies import BodyTooLarge, read_capped
from beacon.config import Member

log = logging.getLogger(__name__)


async def fetch_json(
    session: aiohttp.ClientSession,
    member: Member,
    url: str,
    *,
    payload: bytes | None,
    params: dict[str, str] | None = None,
    headers: dict[str, str],
    within: float | None,
    max_bytes: int,
) -> tuple[dict[str, Any], int] | Failed:
    """GET (or POST the JSON `payload`) `url` within `within` seconds (None: the caller bounds
    the time); the JSON object and its size in bytes, or why there is none.

    Never raises for anything the member does: a slow, refusing, erroring, oversized or
    garbled member is a `Failed` with a short reason safe to show.
    """
    started = time.monotonic()

    def failed(status: Status, detail: str, http_status: int | None = None) -> Failed:
        return Failed(member, status, time.monotonic() - started, detail, http_status)

    method = "POST" if payload is not None else "GET"
    if payload is not None:
        headers = {**headers, "Content-Type": "application/json"}
    try:
        async with asyncio.timeout(within):
            async with session.request(
                method, url, data=payload, params=params, headers=headers, allow_redirects=False
            ) as response:
                raw = await read_capped(response, max_bytes)
                status = response.status
    except TimeoutError:
        return failed(Status.TIMEOUT, f"no answer within {within or 0:g} s")
    except BodyTooLarge:
        return failed(Status.INVALID_RESPONSE, f"answer larger than {max_bytes:,} bytes")
    except (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError) as exc:
        return failed(Status.UNREACHABLE, _reason(exc))
    except aiohttp.ClientError as exc:
        return failed(Status.INVALID_RESPONSE, _reason(exc))
    except Exception:  # a member must never sink the answer, whatever it does
        log.exception("unexpected failure calling a member", extra={"member": member.id})
        return failed(Status.INVALID_RESPONSE, "unexpected failure reading the answer")
    parsed = _parsed(status, raw)
    if isinstance(parsed, dict):
        return parsed, len(raw)
    status_of, detail = parsed
    return failed(status_of, detail, None if status_of is Status.INVALID_RESPONSE else status)


def _not_json(constant: str) -> Any:
    """NaN and Infinity: Python reads them, but they are not JSON and would be passed on."""
    raise ValueError(constant)


def _parsed(status: int, raw: bytes) -> dict[str, Any] | tuple[Status, str]:
    """A 200's JSON object, or the status and detail of what came instead."""
    if status in (401, 403):
        return Status.UNAUTHORIZED, f"HTTP {status}: {_message(raw)}"
    if status != 200:
        return Status.HTTP_ERROR, f"HTTP {status}: {_message(raw)}"
    try:
        parsed = json.loads(raw, parse_constant=_not_json)
    except (ValueError, RecursionError):
        return Status.INVALID_RESPONSE, "answer is not JSON"
    if not isinstance(parsed, dict):
        return Status.INVALID_RESPONSE, "answer is not a JSON object"
    return parsed


def _reason(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect ({exc.os_error.strerror or exc.os_error})"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the member closed the connection without answering"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the answer was cut off"
    return f"bad HTTP from the member ({type(exc).__name__})"


def _message(raw: bytes) -> str:
    """A member's Beacon error message when it sent one, shortened; never its raw body."""
    try:
        error = json.loads(raw).get("error", {})
        text = str(error.get("errorMessage", ""))
    except (ValueError, AttributeError, RecursionError):
        text = ""
    text = "".join(c for c in " ".join(text.split()) if c.isprintable())[:200]
    return text or "no Beacon error message"
