"""Store fixtures: one ingested real dataset shared by a module's read-only tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo.asynchronous.collection import AsyncCollection

from beacon.ingest.load import ingest_vcf
from beacon.store.connect import client_for
from tests.conftest import CINECA


@pytest.fixture(scope="module")
async def cineca_release(mongo_uri: str) -> AsyncIterator[AsyncCollection[dict[str, Any]]]:
    """The release collection of CINECA chr22, ingested once per module into its own database.

    Tests must only read it.
    """
    client = client_for(mongo_uri)
    name = f"t_{uuid.uuid4().hex[:12]}"
    try:
        await ingest_vcf(client[name], CINECA, dataset="cineca", assembly="GRCh37")
        entry = await client[name]["datasets"].find_one({"_id": "cineca"})
        assert entry is not None
        yield client[name][entry["collection"]]
    finally:
        await client.drop_database(name)
        await client.close()
