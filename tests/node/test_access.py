"""Bearer tokens at a node over real HTTP: a node with `[access]` reads the issuers' key sets from a
real aiohttp app on 127.0.0.1; a bad token is a 401 Beacon error with a Bearer challenge, never an
anonymous answer and never a 500. Also the `[access]` section of the config file."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from beacon.config import Settings, load_settings
from beacon.errors import ConfigError
from beacon.node.app import create_node_app
from beacon.tokens import AccessConfig, Issuer, VisaIssuer
from tests.auth_support import (
    AUDIENCE,
    BAD_TOKENS,
    DATASET,
    GRANTING,
    IDP_A,
    IDP_B,
    VISAS,
    KeySetServer,
    access_token,
    bona_fide_visas,
    keys,
    visa,
)
from tests.conftest import write_vcf
from tests.official_schemas import assert_valid, assert_valid_answer

QUERY = {"referenceName": "1", "start": "99", "referenceBases": "A", "alternateBases": "G"}
Client = TestClient[Any, Any]
NodeFactory = Callable[..., Awaitable[Client]]


def access(key_server: KeySetServer, a_jwks: str | None = None) -> AccessConfig:
    """IDP_A and IDP_B trusted for access tokens, VISAS for visas; IDP_A's key set at `a_jwks`
    when given."""
    base = key_server.base
    return AccessConfig(
        AUDIENCE,
        (Issuer(IDP_A, a_jwks or f"{base}/a.json"), Issuer(IDP_B, f"{base}/b.json")),
        (VisaIssuer(VISAS, f"{base}/visas.json", GRANTING),),
    )


@pytest.fixture
async def node_with(settings: Settings, ingest: Any, tmp_path: Path) -> AsyncIterator[NodeFactory]:
    """`await node_with(access)`: a node holding one tiny dataset, with `[access]` as given."""
    vcf = write_vcf(tmp_path / "tiny.vcf", ["1 100 . A G . PASS . GT 0/1 1/1 0/0 0/0"])
    await ingest(vcf, "tiny")
    clients: list[Client] = []

    async def start(access: AccessConfig | None) -> Client:
        client: Client = TestClient(
            TestServer(create_node_app(replace(settings, access=access)), host="127.0.0.1")
        )
        clients.append(client)
        await client.start_server()
        return client

    yield start
    for client in reversed(clients):
        await client.close()


async def answered(client: Client, authorization: str | None = None) -> dict[str, Any]:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = await client.get("/g_variants", params=QUERY, headers=headers)
    body: dict[str, Any] = await response.json()
    assert response.status == 200, body
    assert_valid_answer(body)
    assert body["responseSummary"]["exists"] is True
    return body


async def refused(
    client: Client, authorization: str, caplog: pytest.LogCaptureFixture
) -> tuple[dict[str, Any], str]:
    """A 401 Beacon error body holding no data, and its WWW-Authenticate challenge; neither the
    body, the headers nor the log show the credentials."""
    caplog.set_level(logging.DEBUG)
    response = await client.get(
        "/g_variants", params=QUERY, headers={"Authorization": authorization}
    )
    text = await response.text()
    assert response.status == 401, text
    body: dict[str, Any] = json.loads(text)
    assert_valid("error", body)
    assert set(body) == {"meta", "error"}
    assert body["error"]["errorCode"] == 401
    credentials = authorization.partition(" ")[2].strip()
    if credentials:
        shown = text + json.dumps(dict(response.headers)) + caplog.text
        assert credentials not in shown
        assert not [p for p in credentials.split(".") if len(p) > 8 and p in shown]
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    return body, challenge


async def test_no_authorization_is_anonymous(
    node_with: NodeFactory, key_server: KeySetServer
) -> None:
    await answered(await node_with(access(key_server)))
    assert sum(key_server.reads.values()) == 0


@pytest.mark.parametrize(
    ("signer", "scheme"),
    [("a", "Bearer"), ("b", "Bearer"), ("a", "bearer")],
    ids=["RS256", "ES256", "lower-case-scheme"],
)
async def test_valid_token(
    signer: str, scheme: str, node_with: NodeFactory, key_server: KeySetServer
) -> None:
    client = await node_with(access(key_server))
    token = access_token(getattr(keys(), signer))
    await answered(client, f"{scheme} {token}")
    await answered(client, f"{scheme} {token}")
    assert key_server.reads == {f"{signer}.json": 1}


async def test_valid_token_with_visas(node_with: NodeFactory, key_server: KeySetServer) -> None:
    """Visas are verified against the pinned jku, read over HTTP through the node's session."""
    jku = f"{key_server.base}/visas.json"
    passport = [
        *bona_fide_visas(jku),
        visa("ControlledAccessGrants", DATASET, jku=jku, by="dac"),
        visa("ControlledAccessGrants", DATASET, jku=f"{key_server.base}/evil.json", by="dac"),
    ]
    client = await node_with(access(key_server))
    await answered(client, f"Bearer {access_token(ga4gh_passport_v1=passport)}")
    assert key_server.reads == {"a.json": 1, "visas.json": 1}, "evil.json: jku not pinned"


@pytest.mark.parametrize("case", list(BAD_TOKENS))
async def test_bad_token(
    case: str, node_with: NodeFactory, key_server: KeySetServer, caplog: pytest.LogCaptureFixture
) -> None:
    build, expected = BAD_TOKENS[case]
    body, challenge = await refused(
        await node_with(access(key_server)), f"Bearer {build()}", caplog
    )
    assert 'error="invalid_token"' in challenge
    assert body["error"]["errorMessage"].startswith("the bearer token was refused: ")
    assert expected in body["error"]["errorMessage"].replace("\\", "")


async def test_bad_token_on_post(node_with: NodeFactory, key_server: KeySetServer) -> None:
    client = await node_with(access(key_server))
    body = {"meta": {}, "query": {"requestParameters": {**QUERY, "start": [99]}}}
    headers = {"Authorization": f"Bearer {access_token(exp=0)}"}
    response = await client.post("/g_variants", json=body, headers=headers)
    assert response.status == 401
    assert_valid("error", await response.json())


@pytest.mark.parametrize(
    "authorization",
    ["Basic xyz", "Basic YWxpY2U6c2VjcmV0", "Bearer", "Bearer    ", "Token abc.def.ghi", ""],
    ids=["basic", "basic-base64", "bearer-alone", "bearer-blank", "other-scheme", "empty"],
)
async def test_not_a_bearer_token(
    authorization: str,
    node_with: NodeFactory,
    key_server: KeySetServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await refused(await node_with(access(key_server)), authorization, caplog)
    assert sum(key_server.reads.values()) == 0


async def test_basic_credentials_get_a_challenge_without_an_error_code(
    node_with: NodeFactory, key_server: KeySetServer, caplog: pytest.LogCaptureFixture
) -> None:
    """RFC 6750 s3.1: a request using another authentication scheme lacks a bearer token, so the
    challenge SHOULD NOT carry an error code (errors.Unauthenticated has `token_given` for it)."""
    _, challenge = await refused(await node_with(access(key_server)), "Basic xyz", caplog)
    assert "error=" not in challenge


@pytest.mark.parametrize(
    "authorization",
    [
        lambda: f"Bearer {access_token()}",
        lambda: f"Bearer {BAD_TOKENS['expired-beyond-leeway'][0]()}",
        lambda: "Bearer not-a-token",
        lambda: "Basic xyz",
    ],
    ids=["valid-token", "expired-token", "garbage-token", "basic"],
)
async def test_node_without_access_ignores_tokens(
    authorization: Callable[[], str], node_with: NodeFactory
) -> None:
    client = await node_with(None)
    assert await answered(client, authorization()) == await answered(client)


def _closed_port() -> int:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port: int = listener.getsockname()[1]
    return port


@pytest.mark.parametrize(
    "where",
    [
        lambda base: f"http://127.0.0.1:{_closed_port()}/a.json",
        lambda base: f"{base}/broken",
        lambda base: f"{base}/html",
        lambda base: f"{base}/missing.json",
        lambda base: f"{base}/b.json",
    ],
    ids=["down", "http-500", "html-page", "http-404", "another-issuers-keys"],
)
async def test_key_set_unusable_is_401(
    where: Callable[[str], str],
    node_with: NodeFactory,
    key_server: KeySetServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = await node_with(access(key_server, where(key_server.base)))
    for _ in range(2):  # and again, once the failed read is cached
        _, challenge = await refused(client, f"Bearer {access_token()}", caplog)
        assert 'error="invalid_token"' in challenge


async def test_slow_key_set_is_401_within_the_timeout(
    node_with: NodeFactory, key_server: KeySetServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = await node_with(access(key_server, f"{key_server.base}/slow"))
    started = time.monotonic()
    await refused(client, f"Bearer {access_token()}", caplog)
    assert time.monotonic() - started < 6
    assert key_server.reads["slow"] == 1


# The [access] section of the config file

ACCESS = """
[access]
audience = "https://beacon.example/se"
leeway_seconds = 30

[[access.issuers]]
issuer = "https://idp-a.example"
jwks_url = "https://idp-a.example/jwks"

[[access.issuers]]
issuer = "https://idp-b.example"
jwks_url = "https://idp-b.example/jwks"
algorithms = ["ES256"]

[[access.visa_issuers]]
issuer = "https://visas.example"
jku = "https://visas.example/jwks"
"""


def test_access_section(tmp_path: Path) -> None:
    path = tmp_path / "beacon.toml"
    path.write_text(ACCESS)
    assert load_settings({}, path).access == AccessConfig(
        AUDIENCE,
        (
            Issuer(IDP_A, "https://idp-a.example/jwks", ("RS256", "ES256")),
            Issuer(IDP_B, "https://idp-b.example/jwks", ("ES256",)),
        ),
        (VisaIssuer(VISAS, "https://visas.example/jwks"),),  # default types: bona fide only
        leeway=30.0,
    )


def test_access_section_defaults(tmp_path: Path) -> None:
    path = tmp_path / "beacon.toml"
    path.write_text(
        '[access]\naudience = "b"\n[[access.issuers]]\nissuer = "i"\njwks_url = "https://i/k"\n'
    )
    assert load_settings({}, path).access == AccessConfig("b", (Issuer("i", "https://i/k"),))
    assert load_settings({}, None).access is None


BAD_ACCESS = """
[access]
leeway_seconds = 600
tokens = true

[[access.issuers]]
issuer = ""
jwks_url = "file:///etc/jwks.json"
algorithms = ["HS256", "none"]

[[access.visa_issuers]]
issuer = "https://visas.example"
"""


def test_bad_access_section_lists_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "beacon.toml"
    path.write_text(BAD_ACCESS)
    with pytest.raises(ConfigError) as caught:
        load_settings({}, path)
    assert caught.value.problems == [
        f"{path}: {problem}"
        for problem in [
            "access/issuers/0/algorithms/0: 'HS256' is not one of ['RS256', 'ES256']",
            "access/issuers/0/algorithms/1: 'none' is not one of ['RS256', 'ES256']",
            "access/issuers/0/issuer: '' should be non-empty",
            "access/issuers/0/jwks_url: 'file:///etc/jwks.json' has characters that are not "
            "allowed",
            "access/leeway_seconds: 600 is greater than the maximum of 60",
            "access/visa_issuers/0: 'jku' is a required property",
            "access: 'audience' is a required property",
            "access: unknown parameter(s) tokens",
        ]
    ]


def test_access_needs_an_issuer(tmp_path: Path) -> None:
    path = tmp_path / "beacon.toml"
    path.write_text('[access]\naudience = "b"\nissuers = []\n')
    with pytest.raises(ConfigError) as caught:
        load_settings({}, path)
    assert caught.value.problems == [f"{path}: access/issuers: [] should be non-empty"]
