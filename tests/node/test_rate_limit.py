"""Per-client request limits at a node over real HTTP: 429 with Retry-After and a Beacon error
body past the limit, one bucket per signed-in pseudonym (else per address), none without
`[access]`, /health never limited."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from beacon.auth import AccessPolicy
from beacon.config import Settings
from beacon.node.app import create_node_app
from beacon.privacy import Protection
from beacon.tokens import AccessConfig, Issuer
from tests.auth_support import AUDIENCE, IDP_A, KeySetServer, access_token
from tests.conftest import Ingest, write_vcf
from tests.official_schemas import assert_valid

Client = TestClient[Any, Any]
QUERY = {"referenceName": "1", "start": "99", "referenceBases": "A", "alternateBases": "G"}


@pytest.fixture
async def start(
    settings: Settings, ingest: Ingest, tmp_path: Path, key_server: KeySetServer
) -> AsyncIterator[Callable[..., Awaitable[Client]]]:
    await ingest(write_vcf(tmp_path / "d.vcf", ["1 100 . A G . PASS . GT 0/1 0/0 0/0 0/0"]), "d")
    access = AccessConfig(AUDIENCE, (Issuer(IDP_A, f"{key_server.base}/a.json"),), ())
    clients: list[Client] = []

    async def run(rate: int, *, with_access: bool = True) -> Client:
        changes: dict[str, Any] = {"protection": Protection(gate=False, rate_per_minute=rate)}
        if with_access:
            changes.update(access=access, policy=AccessPolicy(enforced=True))
        client: Client = TestClient(
            TestServer(create_node_app(replace(settings, **changes)), host="127.0.0.1")
        )
        await client.start_server()
        clients.append(client)
        return client

    yield run
    for client in clients:
        await client.close()


def _as(subject: str | None) -> dict[str, str]:
    return {} if subject is None else {"Authorization": f"Bearer {access_token(sub=subject)}"}


async def _statuses(client: Client, times: int, subject: str | None = None) -> list[int]:
    found = []
    for _ in range(times):
        response = await client.get("/g_variants", params=QUERY, headers=_as(subject))
        await response.read()
        found.append(response.status)
    return found


async def test_past_the_limit_a_client_gets_429_with_retry_after(start: Any) -> None:
    client = await start(3)
    assert await _statuses(client, 3) == [200, 200, 200]
    response = await client.get("/g_variants", params=QUERY)
    body = json.loads(await response.text())
    assert response.status == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 20  # 3 per minute: one every 20 s
    assert_valid("error", body)
    assert body["error"]["errorCode"] == 429
    assert "per minute" in body["error"]["errorMessage"]
    assert "response" not in body and "responseSummary" not in body


async def test_each_signed_in_user_has_a_bucket_of_their_own(start: Any) -> None:
    client = await start(2)
    assert await _statuses(client, 3, "alice") == [200, 200, 429]
    assert await _statuses(client, 3, "bob") == [200, 200, 429]
    assert await _statuses(client, 3) == [200, 200, 429]  # anonymous: by address
    assert await _statuses(client, 1, "alice") == [429]


async def test_framework_endpoints_count_but_health_does_not(start: Any) -> None:
    client = await start(2)
    for _ in range(5):
        assert (await client.get("/health")).status == 200
    assert (await client.get("/info")).status == 200
    assert await _statuses(client, 2) == [200, 429]


@pytest.mark.parametrize(("rate", "with_access"), [(0, True), (2, False)])
async def test_no_limit_when_off_or_without_access(
    start: Any, rate: int, with_access: bool
) -> None:
    client = await start(rate, with_access=with_access)
    assert await _statuses(client, 10) == [200] * 10
