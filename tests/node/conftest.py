"""Fixtures of node tests that need tokens: the issuers' key sets served over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.auth_support import KeySetServer, key_set, keys


@pytest.fixture
async def key_server() -> AsyncIterator[KeySetServer]:
    """IDP_A's, IDP_B's and the visa issuer's key sets at a.json, b.json and visas.json."""
    k = keys()
    documents = {"a.json": key_set(k.a), "b.json": key_set(k.b), "visas.json": key_set(k.visas)}
    server = KeySetServer(documents)
    await server.start()
    yield server
    await server.close()
