"""Visas from the issuer's userinfo endpoint (a real aiohttp app on 127.0.0.1): read when a token
carries no `ga4gh_passport_v1`, with the caller's own token, cached per token; a userinfo that is
not the token's subject, fails or is malformed gives no visas (the caller stays PUBLIC), never a
refused or a higher-tier caller."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from beacon.auth import AccessPolicy, Tier
from beacon.config import Settings
from beacon.node.app import create_node_app
from beacon.tokens import AccessConfig, Issuer, VisaIssuer
from tests.auth_support import (
    AUDIENCE,
    GRANTING,
    IDP_A,
    VISAS,
    KeySetServer,
    access_token,
    bearer,
    bona_fide_visas,
)
from tests.conftest import Ingest, write_vcf

Client = TestClient[Any, Any]
QUERY = {"referenceName": "1", "start": "99", "referenceBases": "A", "alternateBases": "G"}


@dataclass
class UserInfoServer:
    """Answers GET /userinfo with `answer` (a status and a JSON body); records the tokens."""

    answer: tuple[int, Any] = (200, {})
    seen: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append(request.headers.get("Authorization", ""))
        status, body = self.answer
        return web.Response(status=status, text=json.dumps(body), content_type="application/json")


@pytest.fixture
async def node(
    settings: Settings, ingest: Ingest, tmp_path: Path, key_server: KeySetServer
) -> AsyncIterator[tuple[Client, UserInfoServer, str]]:
    await ingest(
        write_vcf(tmp_path / "reg.vcf", ["1 100 . A G . PASS . GT 0/1 0/0 0/0 0/0"]), "reg"
    )
    info = UserInfoServer()
    app = web.Application()
    app.router.add_get("/userinfo", info.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    userinfo_url = str(server.make_url("/userinfo"))
    jku = f"{key_server.base}/visas.json"
    access = AccessConfig(
        AUDIENCE,
        (Issuer(IDP_A, f"{key_server.base}/a.json", userinfo_url=userinfo_url),),
        (VisaIssuer(VISAS, jku, GRANTING),),
    )
    policy = AccessPolicy(enforced=True, levels={"reg": Tier.REGISTERED})
    client: Client = TestClient(
        TestServer(
            create_node_app(replace(settings, access=access, policy=policy)), host="127.0.0.1"
        )
    )
    await client.start_server()
    yield client, info, jku
    await client.close()
    await server.close()


async def _sees_registered(client: Client, authorization: str) -> bool:
    """Whether the caller may search the REGISTERED dataset (it holds the allele)."""
    response = await client.get(
        "/g_variants", params=QUERY, headers={"Authorization": authorization}
    )
    body = await response.json()
    assert response.status == 200, body
    return bool(body["responseSummary"]["exists"])


async def test_visas_come_from_userinfo_when_the_token_has_none(node: Any) -> None:
    client, info, jku = node
    token = access_token()  # sub "alice"
    info.answer = (200, {"sub": "alice", "ga4gh_passport_v1": bona_fide_visas(jku)})
    assert await _sees_registered(client, f"Bearer {token}")
    assert info.seen == [f"Bearer {token}"]  # the caller's own token, to its own issuer
    assert await _sees_registered(client, f"Bearer {token}")
    assert len(info.seen) == 1  # cached for the token's lifetime


async def test_userinfo_is_not_read_when_the_token_carries_visas(node: Any) -> None:
    client, info, jku = node
    info.answer = (200, {"sub": "alice", "ga4gh_passport_v1": bona_fide_visas(jku)})
    empty = access_token(ga4gh_passport_v1=[])  # the token says: no visas
    assert not await _sees_registered(client, f"Bearer {empty}")
    assert await _sees_registered(client, bearer(*bona_fide_visas(jku)))
    assert info.seen == []


@pytest.mark.parametrize(
    "answer",
    [
        (200, {"sub": "mallory", "ga4gh_passport_v1": "VISAS"}),  # another subject
        (200, {"ga4gh_passport_v1": "VISAS"}),  # no subject
        (200, {"sub": "alice", "ga4gh_passport_v1": "not a list"}),
        (500, {"error": "down"}),
        (200, ["not", "an", "object"]),
    ],
    ids=["other-subject", "no-subject", "not-a-list", "error", "not-an-object"],
)
async def test_an_unusable_userinfo_leaves_the_caller_public(
    node: Any, answer: tuple[int, Any]
) -> None:
    client, info, jku = node
    status, body = answer
    if isinstance(body, dict) and body.get("ga4gh_passport_v1") == "VISAS":
        body = {**body, "ga4gh_passport_v1": bona_fide_visas(jku)}
    info.answer = (status, body)
    assert not await _sees_registered(client, f"Bearer {access_token()}")
    assert len(info.seen) == 1
