"""Aggregator fixtures: real member apps and a real aggregator, all on 127.0.0.1."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pymongo import AsyncMongoClient

from beacon.aggregator.app import create_aggregator_app
from beacon.config import BeaconInfo, Member, NetworkConfig, Settings
from beacon.ingest.load import ingest_vcf
from beacon.node.app import create_node_app
from tests.conftest import write_vcf

Serve = Callable[[web.Application], Awaitable[str]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """`await serve(app)` runs an app over real HTTP on 127.0.0.1 and returns its base URL."""
    servers: list[TestServer] = []

    async def start(app: web.Application) -> str:
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("")).rstrip("/")

    yield start
    for server in reversed(servers):
        await server.close()


NodeFactory = Callable[..., Awaitable[str]]


@pytest.fixture
async def national_node(
    serve: Serve, settings: Settings, mongo: AsyncMongoClient[dict[str, Any]], tmp_path: Path
) -> AsyncIterator[NodeFactory]:
    """`await national_node("se", rows, samples=...)`: a real node with one dataset, its URL."""
    databases: list[str] = []

    async def start(name: str, rows: list[str], samples: list[str] | None = None) -> str:
        db_name = f"t_{uuid.uuid4().hex[:12]}"
        databases.append(db_name)
        vcf = write_vcf(tmp_path / f"{name}.vcf", rows, samples)
        await ingest_vcf(
            mongo[db_name], vcf, dataset=f"{name}-cohort", assembly="GRCh37", retire_grace=0.0
        )
        info = BeaconInfo(id=f"{name}.beacon", name=f"{name} beacon")
        return await serve(create_node_app(replace(settings, db_name=db_name, info=info)))

    yield start
    for db_name in databases:
        await mongo.drop_database(db_name)


AggregatorFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def aggregator(settings: Settings) -> AsyncIterator[AggregatorFactory]:
    """`await aggregator([Member, ...], deadline=..., k=...)`: a client of a real aggregator."""
    clients: list[TestClient[Any, Any]] = []

    async def start(
        members: list[Member], *, max_granularity: Any = None, **options: Any
    ) -> TestClient[Any, Any]:
        network = NetworkConfig(members=tuple(members), **options)
        agg_settings = replace(settings, info=BeaconInfo(id="eu.network", name="EU network"))
        if max_granularity is not None:
            agg_settings = replace(agg_settings, max_granularity=max_granularity)
        client = TestClient(TestServer(create_aggregator_app(agg_settings, network), host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in reversed(clients):
        await client.close()
