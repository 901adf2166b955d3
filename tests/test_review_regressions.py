"""Regressions from the review of tokens, tiers and the audit log, each one a real failure seen."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from beacon.audit import AuditEntry, AuditLog
from beacon.config import Settings
from beacon.keys import AUDIT, KEY_SETS
from beacon.node.app import _key_sets_ctx, create_node_app
from beacon.tokens import (
    AccessConfig,
    Issuer,
    KeySets,
    TokenError,
    VisaIssuer,
    identity_from_visas,
    verify_access_token,
)
from tests.auth_support import AUDIENCE, IDP_A, VISAS, access_token, key_set, keys, visa
from tests.conftest import Ingest, write_vcf

ENTRY = AuditEntry("p", "PUBLIC", "/g_variants", "q", ("a",), "boolean", "boolean", "answered")


async def test_a_key_set_sent_in_pieces_is_read_whole() -> None:
    body = json.dumps(key_set(keys().a)).encode()

    async def jwks(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        await response.write(body[:100])
        await asyncio.sleep(0.05)
        await response.write(body[100:])
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/jwks", jwks)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    node = web.Application()
    context = _key_sets_ctx(node)
    await context.__anext__()
    try:
        config = AccessConfig(AUDIENCE, (Issuer(IDP_A, f"http://127.0.0.1:{port}/jwks"),))
        identity = await verify_access_token(access_token(), config, node[KEY_SETS])
        assert len(identity.subject) == 32
    finally:
        await context.aclose()
        await runner.cleanup()


async def test_a_withdrawn_key_stops_working_once_the_set_is_old() -> None:
    documents = {"u": key_set(keys().a)}

    async def fetch(url: str) -> dict[str, Any]:
        return documents[url]

    key_sets = KeySets(fetch, every=30.0, max_age=0.05)
    config = AccessConfig(AUDIENCE, (Issuer(IDP_A, "u"),))
    await verify_access_token(access_token(), config, key_sets)
    documents["u"] = {"keys": []}
    await asyncio.sleep(0.1)
    try:
        await verify_access_token(access_token(), config, key_sets)
    except TokenError as exc:
        assert "key id" in str(exc)
    else:
        raise AssertionError("a withdrawn key was still trusted")


async def test_a_visa_with_a_list_for_its_type_is_dropped_not_a_500() -> None:
    jku = "u"
    documents = {jku: key_set(keys().visas)}

    async def fetch(url: str) -> dict[str, Any]:
        return documents[url]

    config = AccessConfig(AUDIENCE, (), (VisaIssuer(VISAS, jku),))
    odd = visa("ResearcherStatus", "x", jku=jku, extra={"type": ["ResearcherStatus"]})
    identity = await identity_from_visas("s", [odd], config, KeySets(fetch))
    assert (identity.bona_fide, identity.grants) == (False, frozenset())
    assert len(identity.dropped) == 1


async def test_the_audit_writer_survives_a_file_it_cannot_write(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.mkdir()  # any OSError: a directory where the file should be
    stored: list[dict[str, Any]] = []

    async def insert(rows: list[dict[str, Any]]) -> None:
        stored.extend(rows)

    audit = AuditLog(path, insert)
    writer = asyncio.create_task(audit.run(every=0.05))
    audit.record(ENTRY)
    await asyncio.sleep(0.2)
    assert not writer.done()
    assert len(stored) == 1  # the database still got it
    path.rmdir()
    audit.record(ENTRY)
    await asyncio.sleep(0.2)
    writer.cancel()
    await asyncio.gather(writer, return_exceptions=True)
    assert len(stored) == 2
    assert len(path.read_text().splitlines()) == 1


async def test_datasets_hide_their_allele_totals_when_counts_are_thresholded(
    settings: Settings, ingest: Ingest, tmp_path: Path
) -> None:
    """An exact total of alleles minus exact counts of ranges would show a hidden count."""
    await ingest(write_vcf(tmp_path / "t.vcf", ["1 100 . A G . PASS . GT 0/1 0/0 0/0 0/0"]), "t")
    for k, shown in ((5, False), (1, True)):
        client = TestClient(TestServer(create_node_app(replace(settings, k=k)), host="127.0.0.1"))
        await client.start_server()
        try:
            body = await (await client.get("/datasets")).json()
        finally:
            await client.close()
        info = body["response"]["collections"][0]["info"]
        assert ("alleles" in info, info["samples"]) == (shown, 4)


async def test_a_refused_token_leaves_an_audit_entry_without_the_token(
    settings: Settings, tmp_path: Path
) -> None:
    access = AccessConfig(AUDIENCE, (Issuer(IDP_A, "http://127.0.0.1:1/jwks"),))
    app = create_node_app(replace(settings, access=access, audit_file=tmp_path / "audit.jsonl"))
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        got = await client.get(
            "/g_variants",
            params={"referenceName": "1", "start": "99", "referenceBases": "A",
                    "alternateBases": "G"},
            headers={"Authorization": "Bearer forged.token.text", "X-Request-ID": "probe-1"},
        )  # fmt: skip
        assert got.status == 401
        await app[AUDIT].flush()
    finally:
        await client.close()
    text = (tmp_path / "audit.jsonl").read_text()
    assert "forged" not in text
    row = json.loads(text)
    assert (row["decision"], row["principal"], row["request_id"], row["endpoint"]) == (
        "refused_401_token",
        "unverified",
        "probe-1",
        "/g_variants",
    )
