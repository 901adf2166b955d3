"""`beacon demo`: three national nodes and one aggregator over them, in one process.

One msprime population is simulated on first run and its people are split into national cohorts,
so common alleles are found in every country and rare ones in one. The cohorts are kept in the
data directory and each is ingested once (a dataset already ingested from the same file is
reused), so a second run starts at once. Each node has its own database on the one embedded
server; the aggregator listens on the main port and the nodes on the next ones.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from beacon.config import BeaconInfo, Member, NetworkConfig, Organization, Settings, load_settings
from beacon.ingest.load import ingest_vcf
from beacon.ingest.progress import Progress
from beacon.node.app import create_node_app
from beacon.query import Allele
from beacon.results import Granularity
from beacon.store.connect import database
from beacon.store.mongo import CATALOG, allele_of

ASSEMBLY = "GRCh37"
SEED = 2026
ALLELES = 20_000  # ALT alleles wanted in the whole simulated population
NODE_HOST = "127.0.0.1"
PRIVATE_IN = "fi"  # the one-country example: Finland, for its founder variants

T = TypeVar("T")


@dataclass(frozen=True)
class Nation:
    """One national node of the demo network and the share of the population it holds."""

    id: str
    country: str
    name: str
    people: int

    @property
    def dataset(self) -> str:
        return f"{self.id}-rare-disease"


NATIONS = (
    Nation("se", "SE", "Sweden", 600),
    Nation("fi", "FI", "Finland", 350),
    Nation("es", "ES", "Spain", 200),
)


@dataclass(frozen=True)
class Node:
    """A nation's node as this run serves it."""

    nation: Nation
    settings: Settings
    vcf: Path

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.port}"


@dataclass(frozen=True)
class Example:
    """A query worth trying: `variant` is the short form, CHROM-POS-REF-ALT with a 1-based POS."""

    title: str
    variant: str
    params: dict[str, Any]


def _cohorts(data_dir: Path) -> dict[str, Path]:
    """Each nation's cohort VCF; the population is simulated once and split into them."""
    from beacon.simulate import CohortPart, CohortSpec, sequence_length_for, write_cohort_parts

    folder = data_dir / "cohorts" / f"network-{SEED}"
    paths = {n.id: folder / f"{n.id}-{n.people}x22.vcf.gz" for n in NATIONS}
    if all(path.exists() for path in paths.values()):
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    people = sum(n.people for n in NATIONS)
    print(
        f"Simulating one population of {people:,} people on chr22 with msprime and splitting it "
        f"into {len(NATIONS)} national cohorts (once)...",
        file=sys.stderr,
    )
    spec = CohortSpec(
        samples=people, sequence_length=sequence_length_for(ALLELES, people), seed=SEED
    )
    partial = {n.id: paths[n.id].with_suffix(".partial") for n in NATIONS}
    parts = [CohortPart(partial[n.id], n.people, n.country) for n in NATIONS]
    write_cohort_parts(spec, parts)
    for nation in NATIONS:
        partial[nation.id].rename(paths[nation.id])
    return paths


def _stamp(vcf: Path) -> str:
    """Name, size and mtime: a changed file is ingested again, an unchanged one is not."""
    stat = vcf.stat()
    return f"{vcf.name}:{stat.st_size}:{int(stat.st_mtime)}"


def _nodes(settings: Settings, cohorts: dict[str, Path]) -> list[Node]:
    """Each nation's node: its own database on the shared server, its own port after the main."""
    nodes = []
    for offset, nation in enumerate(NATIONS, start=1):
        info = BeaconInfo(
            id=f"{nation.id}.demo.beacon",
            name=f"{nation.name} demo beacon",
            description=f"A national demo beacon over {nation.people} simulated people.",
            organization=Organization(id=f"{nation.id}-demo", name=f"{nation.name} demo operator"),
        )
        node_settings = replace(
            settings,
            db_name=f"{settings.db_name}_{nation.id}",
            host=NODE_HOST,
            port=settings.port + offset,
            info=info,
        )
        nodes.append(Node(nation, node_settings, cohorts[nation.id]))
    return nodes


def _aggregator_settings(settings: Settings) -> Settings:
    info = BeaconInfo(
        id="eu.demo.network",
        name="European demo network",
        description="A demo aggregator over three national beacons.",
        organization=Organization(id="eu-demo", name="Demo network operator"),
    )
    # Counts at most, as `beacon aggregate` defaults to: records stay with the nodes.
    return replace(settings, info=info, max_granularity=Granularity.COUNT)


def _network(nodes: list[Node]) -> NetworkConfig:
    members = tuple(Member(n.nation.id, n.nation.country, n.nation.name, n.url) for n in nodes)
    return NetworkConfig(members=members)


Doc = dict[str, Any]
Client = AsyncMongoClient[Doc]


async def _ingest_once(client: Client, node: Node) -> AsyncCollection[Doc]:
    """Ingest the node's cohort unless its dataset already holds it; return its variants."""
    db = client[node.settings.db_name]
    dataset, vcf, stamp = node.nation.dataset, node.vcf, _stamp(node.vcf)
    current = await db[CATALOG].find_one({"_id": dataset})
    if current is None or current.get("source_stamp") != stamp:
        print(
            f"Ingesting {vcf.name} as {node.nation.name}'s dataset {dataset!r}...", file=sys.stderr
        )
        summary = await ingest_vcf(
            db,
            vcf,
            dataset=dataset,
            assembly=ASSEMBLY,
            name=f"{node.nation.name}: rare disease cohort (simulated)",
            description=f"{node.nation.people} simulated people, chr22",
            progress=Progress(None),
        )
        await db[CATALOG].update_one({"_id": dataset}, {"$set": {"source_stamp": stamp}})
        print(
            f"  {summary.alleles:,} alleles from {summary.samples:,} samples in "
            f"{summary.seconds:.1f} s",
            file=sys.stderr,
        )
    else:
        print(
            f"Dataset {dataset!r} is already ingested from {vcf.name}; reusing it.", file=sys.stderr
        )
    collection = (await db[CATALOG].find_one({"_id": dataset}) or {})["collection"]
    return db[collection]


async def _carried_in(collections: list[AsyncCollection[Doc]], key: str) -> list[bool]:
    """Whether each cohort has at least one copy of the allele `key`."""
    return [
        await c.find_one({"_id": key, "ac": {"$gt": 0}}, {"_id": 1}) is not None
        for c in collections
    ]


async def _pick(collections: list[AsyncCollection[Doc]], source: int, common: bool) -> Doc | None:
    """An SNV of cohort `source` that every cohort carries (`common`), or that only it carries."""
    wanted = [True] * len(collections) if common else [i == source for i in range(len(collections))]
    flt = {"vt": "SNP", "ac": {"$gte": 20 if common else 2}}
    async for doc in collections[source].find(flt, {"car": 0}).limit(2000):  # no carrier sets
        if await _carried_in(collections, doc["_id"]) == wanted:
            return doc
    return None


async def _examples(nodes: list[Node], collections: list[AsyncCollection[Doc]]) -> list[Example]:
    """Queries picked from what was ingested: found in every country, in one, and nowhere."""
    found = []
    smallest = min(range(len(nodes)), key=lambda i: nodes[i].nation.people)
    shared = await _pick(collections, smallest, common=True)
    if shared is not None:
        names = ", ".join(n.nation.name for n in nodes)
        found.append(_example(f"found in several countries ({names})", allele_of(shared)))
    home = next(i for i, node in enumerate(nodes) if node.nation.id == PRIVATE_IN)
    private = await _pick(collections, home, common=False)
    if private is not None:
        title = f"found in one country only ({nodes[home].nation.name})"
        found.append(_example(title, allele_of(private)))
    found.append(await _nowhere(collections, shared))
    return found


async def _nowhere(collections: list[AsyncCollection[Doc]], shared: Doc | None) -> Example:
    """Another ALT at the shared allele's position that no cohort carries."""
    if shared is not None:
        allele = allele_of(shared)
        for base in "ACGT":
            other = replace(allele, alt=base)
            if base in (allele.ref, allele.alt):
                continue
            if not any(await _carried_in(collections, other.key)):
                return _example("the same position, another ALT: found nowhere", other)
    # Below the simulated stretch of chr22, so surely nowhere.
    return _example("found nowhere", Allele("22", 1, 2, "A", "T", "SNP"))


def _example(title: str, allele: Allele) -> Example:
    """An SNV example; its short form has the 1-based VCF POS, the parameters the 0-based start."""
    params = {
        "referenceName": allele.chrom,
        "start": allele.start,
        "referenceBases": allele.ref,
        "alternateBases": allele.alt,
        "assemblyId": ASSEMBLY,
        "requestedGranularity": "count",
    }
    short = f"{allele.chrom}-{allele.start + 1}-{allele.ref}-{allele.alt}"
    return Example(title, short, params)


async def _prepare(client: Client, nodes: list[Node]) -> list[Example]:
    """Ingest what is not ingested yet, then pick the example queries."""
    collections = [await _ingest_once(client, node) for node in nodes]
    return await _examples(nodes, collections)


def _print_network(root: str, nodes: list[Node], examples: list[Example]) -> None:
    print(f"\nEuropean demo network on {root}/  (Ctrl-C stops it)\n")
    print(f"  aggregator  {root}/")
    for node in nodes:
        nation = node.nation
        print(
            f"  {nation.country} node     {node.url}/  dataset {nation.dataset}, "
            f"{nation.people} people"
        )
    print(f"\n  curl -s {root}/info\n  curl -s {root}/datasets\n")
    for example in examples:
        query = "&".join(f"{k}={v}" for k, v in example.params.items())
        print(f"# {example.variant}: {example.title}")
        print(f"  beacon query {example.variant} --url {root} --assembly {ASSEMBLY} --individuals")
        print(f"  curl -s '{root}/g_variants?{query}'")
    print(f"\nOpenAPI: {root}/openapi.json\n", flush=True)


async def _serve(
    sites: list[tuple[web.Application, str, int]], stop: asyncio.Event, ready: Callable[[], None]
) -> None:
    """Serve each app on its own address until `stop` is set; stop them in reverse order."""
    runners: list[web.AppRunner] = []
    try:
        for app, host, port in sites:
            runner = web.AppRunner(app)
            runners.append(runner)
            await runner.setup()
            await web.TCPSite(runner, host, port).start()
        ready()
        await stop.wait()
    finally:
        for runner in reversed(runners):
            await runner.cleanup()


async def _run(settings: Settings, nodes: list[Node]) -> int:
    """Prepare the data, then serve the nodes and the aggregator until SIGINT or SIGTERM."""
    from beacon.aggregator.app import create_aggregator_app

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with database(settings) as client:
            # Held while serving too, so the embedded server keeps running between the stages.
            examples = await _unless_stopped(_prepare(client, nodes), stop)
            if examples is None:
                print("interrupted", file=sys.stderr)
                return 130
            sites = [(create_node_app(n.settings), n.settings.host, n.settings.port) for n in nodes]
            aggregator = create_aggregator_app(_aggregator_settings(settings), _network(nodes))
            sites.append((aggregator, settings.host, settings.port))
            root = f"http://{settings.host}:{settings.port}"
            await _serve(sites, stop, lambda: _print_network(root, nodes, examples))
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return 0


async def _unless_stopped(work: Coroutine[Any, Any, T], stop: asyncio.Event) -> T | None:
    """The result of `work`, or None when `stop` is set first (then `work` is cancelled)."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        if not task.done():
            task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        return await task
    return None


def demo(args: argparse.Namespace) -> int:
    settings = load_settings(os.environ, args.config)
    settings = replace(settings, host=args.host or settings.host, port=args.port or settings.port)
    nodes = _nodes(settings, _cohorts(settings.data_dir))
    return asyncio.run(_run(settings, nodes))


def add_demo_commands(commands: Any) -> None:
    """Registered by cli.py; msprime is imported only when the cohorts must be simulated."""
    run = commands.add_parser(
        "demo", help="simulate three national cohorts; serve their nodes and an aggregator"
    )
    run.add_argument("--host", help="address of the aggregator (the nodes stay on 127.0.0.1)")
    run.add_argument(
        "--port", type=int, help="the aggregator's port; the nodes take the next three"
    )
    run.set_defaults(func=demo)
