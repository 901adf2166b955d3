"""Opening the database: the configured MongoDB, or the embedded default started on demand."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pymongo import AsyncMongoClient

from beacon.config import Settings
from beacon.store.embedded import embedded_server


def client_for(uri: str) -> AsyncMongoClient[dict[str, Any]]:
    return AsyncMongoClient(
        uri,
        serverSelectionTimeoutMS=10_000,
        connectTimeoutMS=5_000,
        appname="beacon",
        tz_aware=True,
    )


@asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    """A client for BEACON_MONGO_URI, or for the embedded server in `settings.data_dir`."""
    if settings.mongo_uri is not None:
        client = client_for(settings.mongo_uri.value)
        try:
            yield client
        finally:
            await client.close()
        return
    async with embedded_server(settings.data_dir) as server:
        client = client_for(server.uri)
        try:
            yield client
        finally:
            await client.close()
