"""Shared fixtures: one real embedded database server per session, a fresh database per test,
nodes served over real HTTP on 127.0.0.1."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pymongo import AsyncMongoClient

from beacon.config import Secret, Settings
from beacon.ingest.load import IngestSummary, ingest_vcf
from beacon.node.app import create_node_app
from beacon.privacy import Protection
from beacon.store.connect import client_for
from beacon.store.embedded import embedded_server
from tests.official_schemas import SHARED

DATA = SHARED / "data"
CINECA = DATA / "cineca_uk1_chr22_GRCh37.vcf.gz"
MT = DATA / "1kg_phase3_chrMT_GRCh37.vcf.gz"
CHR1 = DATA / "1kg_phase3_chr1_slice_GRCh37.vcf.gz"

VCF_HEADER = (
    "##fileformat=VCFv4.2\n"
    "##contig=<ID=1,length=249250621>\n##contig=<ID=22,length=51304566>\n"
    "##contig=<ID=MT,length=16569>\n##contig=<ID=GL000192.1,length=547496>\n"
    '##INFO=<ID=AC,Number=A,Type=Integer,Description="Allele count">\n'
    '##INFO=<ID=AN,Number=1,Type=Integer,Description="Allele number">\n'
    '##INFO=<ID=END,Number=1,Type=Integer,Description="End position">\n'
    '##INFO=<ID=SVLEN,Number=.,Type=Integer,Description="SV length">\n'
    '##INFO=<ID=SVTYPE,Number=1,Type=String,Description="SV type">\n'
    '##ALT=<ID=DEL,Description="Deletion">\n##ALT=<ID=DUP,Description="Duplication">\n'
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
)


def write_vcf(path: Path, rows: list[str], samples: list[str] | None = None) -> Path:
    """A tiny real VCF: our header, the given sample names and tab-separated rows."""
    names = ["s1", "s2", "s3", "s4"] if samples is None else samples
    columns = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO" + (
        "\tFORMAT\t" + "\t".join(names) if names else ""
    )
    path.write_text(
        VCF_HEADER + columns + "\n" + "".join(r.replace(" ", "\t") + "\n" for r in rows)
    )
    return path


@pytest.fixture(scope="session")
async def mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """The real embedded database server, started once for the whole session."""
    data_dir = tmp_path_factory.mktemp("embedded-db")
    async with embedded_server(data_dir) as server:
        yield server.uri
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
async def mongo(mongo_uri: str) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    client = client_for(mongo_uri)
    yield client
    await client.close()


@pytest.fixture
async def db_name(mongo: AsyncMongoClient[dict[str, Any]]) -> AsyncIterator[str]:
    """A fresh database for one test, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    await mongo.drop_database(name)


UNPROTECTED = Protection(
    gate=False, noise=False, rate_per_minute=0, risk_p=1e-300, count_min_frequency=0.0
)
"""No gate, no noise, no rate limit, counts for every allele and a risk budget (B = 300) no
test spends; the count budget still applies to signed-in callers."""


@pytest.fixture
def settings(mongo_uri: str, db_name: str, tmp_path: Path) -> Settings:
    # k = 1, no gate, no noise: these tests check counts as they are; thresholds and the
    # membership defences have tests of their own.
    return Settings(
        mongo_uri=Secret(mongo_uri),
        db_name=db_name,
        data_dir=tmp_path,
        catalog_ttl=0.0,
        k=1,
        protection=UNPROTECTED,
    )


Ingest = Callable[..., Awaitable[IngestSummary]]


@pytest.fixture
def ingest(mongo: AsyncMongoClient[dict[str, Any]], db_name: str) -> Ingest:
    """`await ingest(path, dataset, assembly="GRCh37")` into this test's database."""

    async def run(path: Path, dataset: str, assembly: str = "GRCh37", **kw: Any) -> IngestSummary:
        kw.setdefault("retire_grace", 0.0)
        return await ingest_vcf(mongo[db_name], path, dataset=dataset, assembly=assembly, **kw)

    return run


@pytest.fixture
async def node(settings: Settings) -> AsyncIterator[TestClient[Any, Any]]:
    """A node app served over real HTTP on 127.0.0.1, with a client for it."""
    server = TestServer(create_node_app(settings), host="127.0.0.1")
    client = TestClient(server)
    await client.start_server()
    yield client
    await client.close()
