"""The audit log (beacon.audit): one entry per answer or refusal, in a file and in the database."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pymongo import AsyncMongoClient

from beacon.audit import COLLECTION
from beacon.auth import AccessPolicy, Tier
from beacon.config import Settings
from beacon.keys import AUDIT
from beacon.node.app import create_node_app
from tests.conftest import Ingest, write_vcf

ROWS = ["1 100 . A G . PASS . GT 0/1 0/0 0/0 1/1"]
QUERY = {"referenceName": "1", "start": "99", "referenceBases": "A", "alternateBases": "G"}


@pytest.fixture
async def audited(
    settings: Settings, ingest: Ingest, tmp_path: Path
) -> AsyncIterator[TestClient[Any, Any]]:
    await ingest(write_vcf(tmp_path / "open.vcf", ROWS), "open")
    await ingest(write_vcf(tmp_path / "reg.vcf", ROWS), "reg")
    policy = AccessPolicy(enforced=True, levels={"reg": Tier.REGISTERED})
    app = create_node_app(
        replace(settings, policy=policy, k=5, audit_file=tmp_path / "log" / "audit.jsonl")
    )
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    yield client
    await client.close()


async def test_answers_and_refusals_are_audited(
    audited: TestClient[Any, Any],
    settings: Settings,
    mongo: AsyncMongoClient[dict[str, Any]],
    tmp_path: Path,
) -> None:
    headers = {"X-Request-ID": "req-1"}
    got = await audited.get("/g_variants", params={**QUERY, "requestedGranularity": "record"},
                            headers=headers)  # fmt: skip
    assert got.status == 200
    refused = await audited.get(
        "/g_variants", params={**QUERY, "datasetIds": "reg"}, headers={"X-Request-ID": "req-2"}
    )
    assert refused.status == 401
    await audited.server.app[AUDIT].flush()

    lines = (tmp_path / "log" / "audit.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    common = {"principal": "anonymous", "tier": "PUBLIC", "endpoint": "/g_variants"}
    assert [{k: r[k] for k in (*common, "datasets", "requested", "given", "decision",
                                "request_id")} for r in rows] == [
        {**common, "datasets": ["open"], "requested": "record", "given": "boolean",
         "decision": "capped", "request_id": "req-1"},
        {**common, "datasets": ["reg"], "requested": "boolean", "given": "",
         "decision": "refused_401", "request_id": "req-2"},
    ]  # fmt: skip
    assert all(r["query"] == rows[0]["query"] and '"start": 99' in r["query"] for r in rows)
    assert all(r["time"].endswith("+00:00") for r in rows)

    stored = await mongo[settings.db_name][COLLECTION].find({}, {"_id": 0}).to_list()
    assert sorted(stored, key=lambda r: r["request_id"]) == rows


async def test_entries_never_hold_tokens_or_genotypes(
    audited: TestClient[Any, Any], tmp_path: Path
) -> None:
    # A node without [access] issuers does not read tokens; none may reach the log either way.
    got = await audited.get(
        "/individuals", params=QUERY, headers={"Authorization": "Bearer secret-token-text"}
    )
    assert got.status == 200
    await audited.server.app[AUDIT].flush()
    text = (tmp_path / "log" / "audit.jsonl").read_text()
    assert "secret-token-text" not in text
    assert "0/1" not in text and "1/1" not in text
    assert json.loads(text)["endpoint"] == "/individuals"
