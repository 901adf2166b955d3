"""Reading an HTTP response body under a size cap, refused as soon as it passes the cap."""

from __future__ import annotations

import aiohttp

_CHUNK = 65536


class BodyTooLarge(Exception):
    """The body declared or sent more than the cap allows."""


async def read_capped(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """The whole body (however it arrives, in one piece or many), at most `max_bytes` of it."""
    if response.content_length is not None and response.content_length > max_bytes:
        raise BodyTooLarge
    chunks, size = [], 0
    async for chunk in response.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)
