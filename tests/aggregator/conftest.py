"""Aggregator fixtures: real member apps and a real aggregator, all on 127.0.0.1."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pymongo import AsyncMongoClient

from beacon.aggregator.app import create_aggregator_app
from beacon.config import BeaconInfo, Member, NetworkConfig, Settings, load_network
from beacon.ingest.load import ingest_vcf
from beacon.node.app import create_node_app
from tests.conftest import write_vcf

# Asserts in the shared helpers report their operands, as they did inside the test modules.
pytest.register_assert_rewrite("tests.aggregator.support")

# The network most tests use: two nodes, se and fi, holding tiny VCFs of eight people.
SAMPLES = [f"s{i}" for i in range(8)]
_ONE = " ".join(["0/1"] + ["0/0"] * 7)


def rows(n: int, first: int = 100) -> list[str]:
    """`n` alleles on 22, 100 bases apart from `first` (1-based), each carried by s0 alone."""
    return [f"22 {first + 100 * i} . A G . PASS . GT {_ONE}" for i in range(n)]


# se: six alleles in RANGE; 22_99_A_G carried by s0..s5, the other five by s0.
SE_ROWS = ["22 100 . A G . PASS . GT " + " ".join(["0/1"] * 6 + ["0/0"] * 2), *rows(5, 200)]
# fi: two alleles in RANGE; 22_99_A_G carried by s0 and s1, the other by s0.
FI_ROWS = ["22 100 . A G . PASS . GT " + " ".join(["1/1", "0/1"] + ["0/0"] * 6), *rows(1, 700)]
RANGE = {"referenceName": "22", "start": "0", "end": "1000"}
COUNT = {**RANGE, "requestedGranularity": "count"}

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


Client = TestClient[Any, Any]


@pytest.fixture
async def client_of() -> AsyncIterator[Callable[[web.Application], Awaitable[Client]]]:
    """`await client_of(app)`: the app on 127.0.0.1 with a client, closed at teardown."""
    clients: list[Client] = []

    async def start(app: web.Application) -> Client:
        client: Client = TestClient(TestServer(app, host="127.0.0.1"))
        clients.append(client)  # closed at teardown even if it fails to start
        await client.start_server()
        return client

    yield start
    for client in reversed(clients):
        await client.close()


AggregatorFactory = Callable[..., Awaitable[Client]]


@pytest.fixture
def aggregator(
    settings: Settings, client_of: Callable[[web.Application], Awaitable[Client]]
) -> AggregatorFactory:
    """`await aggregator([Member, ...], deadline=..., k=...)`: a client of a real aggregator."""

    async def start(
        members: list[Member],
        *,
        max_granularity: Any = None,
        info: BeaconInfo | None = None,
        **options: Any,
    ) -> Client:
        network = NetworkConfig(members=tuple(members), **options)
        info = info or BeaconInfo(id="eu.network", name="EU network")
        agg_settings = replace(settings, info=info)
        if max_granularity is not None:
            agg_settings = replace(agg_settings, max_granularity=max_granularity)
        return await client_of(create_aggregator_app(agg_settings, network))

    return start


def url_of(client: Client) -> str:
    """The base URL a running test client's server answers on (to make it a member)."""
    return str(client.make_url("")).rstrip("/")


FileAggregatorFactory = Callable[..., Awaitable[Client]]


@pytest.fixture
def aggregator_from_file(
    client_of: Callable[[web.Application], Awaitable[Client]],
) -> FileAggregatorFactory:
    """`await aggregator_from_file(path)`: a real aggregator built from, and watching, a file."""

    async def start(path: Path, environ: Mapping[str, str] | None = None) -> Client:
        environ = {} if environ is None else environ
        agg_settings, network = load_network(environ, path)
        return await client_of(create_aggregator_app(agg_settings, network, path, environ=environ))

    return start


QUERY_PATHS = ("/g_variants", "/individuals")


@dataclass
class Recorder:
    """What a member app received: every request's path and headers; `failing` makes its
    queries answer 503 (a Beacon error body), as a member whose database went away would."""

    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    failing: bool = False

    def queries(self) -> list[dict[str, str]]:
        """The headers of every query (g_variants, individuals) received, in order."""
        return [headers for path, headers in self.requests if path.startswith(QUERY_PATHS)]

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        self.requests.append((request.path, dict(request.headers)))
        if self.failing and request.path.startswith(QUERY_PATHS):
            error = {"errorCode": 503, "errorMessage": "the variant store is unavailable"}
            return web.json_response({"meta": {}, "error": error}, status=503)
        return await handler(request)


@dataclass(frozen=True)
class RecordedNode:
    """A real node served on 127.0.0.1: its URL, its request log and a way to re-ingest it."""

    url: str
    recorder: Recorder
    ingest: Callable[..., Awaitable[Any]]


RecordedNodeFactory = Callable[..., Awaitable[RecordedNode]]


@pytest.fixture
async def recorded_node(
    serve: Serve, settings: Settings, mongo: AsyncMongoClient[dict[str, Any]], tmp_path: Path
) -> AsyncIterator[RecordedNodeFactory]:
    """`await recorded_node("se", rows, samples=...)`: like `national_node`, with a `Recorder`
    in front of the real node app and `await node.ingest(rows)` to re-ingest its dataset."""
    databases: list[str] = []

    async def start(name: str, rows: list[str], samples: list[str] | None = None) -> RecordedNode:
        db_name = f"t_{uuid.uuid4().hex[:12]}"
        databases.append(db_name)
        releases = 0

        async def reingest(new_rows: list[str]) -> Any:
            nonlocal releases
            releases += 1
            vcf = write_vcf(tmp_path / f"{name}-{releases}.vcf", new_rows, samples)
            return await ingest_vcf(
                mongo[db_name], vcf, dataset=f"{name}-cohort", assembly="GRCh37", retire_grace=0.0
            )

        await reingest(rows)
        info = BeaconInfo(id=f"{name}.beacon", name=f"{name} beacon")
        recorder = Recorder()
        app = create_node_app(replace(settings, db_name=db_name, info=info))
        app.middlewares.append(recorder.middleware)
        return RecordedNode(await serve(app), recorder, reingest)

    yield start
    for db_name in databases:
        await mongo.drop_database(db_name)
