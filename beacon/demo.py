"""`beacon demo`: a local node on a simulated cohort (or a VCF you give), with example queries.

The cohort is simulated with msprime on first run and kept in the data directory, and a dataset
already ingested from the same file is not ingested again, so a second run starts at once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from aiohttp import web
from pymongo.asynchronous.database import AsyncDatabase

from beacon.config import Settings, load_settings
from beacon.ingest.load import ingest_vcf
from beacon.ingest.progress import Progress
from beacon.node.app import create_node_app
from beacon.store.connect import database
from beacon.store.mongo import CATALOG

DEMO_DATASET = "demo-cohort"
COHORT_FILE = "demo-cohort-500x22.vcf.gz"


@dataclass(frozen=True)
class Example:
    title: str
    params: dict[str, Any]


def _cohort(data_dir: Path) -> Path:
    """The simulated cohort, generated once (500 people, chr22, about 20,000 alleles)."""
    from beacon.simulate import CohortSpec, sequence_length_for, write_cohort_vcf

    path = data_dir / "cohorts" / COHORT_FILE
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    print("Simulating a cohort of 500 people on chr22 with msprime (once)...", file=sys.stderr)
    spec = CohortSpec(samples=500, sequence_length=sequence_length_for(20_000, 500), seed=2026)
    partial = path.with_suffix(".partial")
    write_cohort_vcf(spec, partial)
    partial.rename(path)
    return path


def _stamp(vcf: Path) -> str:
    """Name, size and mtime: a changed file is ingested again, an unchanged one is not."""
    stat = vcf.stat()
    return f"{vcf.name}:{stat.st_size}:{int(stat.st_mtime)}"


async def _prepare(
    settings: Settings, vcf: Path, stamp: str, dataset: str, assembly: str
) -> list[Example]:
    async with database(settings) as client:
        db = client[settings.db_name]
        current = await db[CATALOG].find_one({"_id": dataset})
        if current is None or current.get("source_stamp") != stamp:
            print(f"Ingesting {vcf.name} as dataset {dataset!r}...", file=sys.stderr)
            summary = await ingest_vcf(
                db,
                vcf,
                dataset=dataset,
                assembly=assembly,
                name=f"Demo: {vcf.name}",
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
                f"Dataset {dataset!r} is already ingested from {vcf.name}; reusing it.",
                file=sys.stderr,
            )
        collection = (await db[CATALOG].find_one({"_id": dataset}) or {})["collection"]
        return await _examples(db, collection, assembly)


def _sequence_params(doc: dict[str, Any], assembly: str) -> dict[str, Any]:
    return {
        "referenceName": doc["chrom"],
        "start": doc["start"],
        "referenceBases": doc["ref"],
        "alternateBases": doc["alt"],
        "assemblyId": assembly,
        "requestedGranularity": "record",
    }


async def _examples(
    db: AsyncDatabase[dict[str, Any]], collection: str, assembly: str
) -> list[Example]:
    """Queries worth trying, picked from what was ingested."""
    picks = (
        ("a common SNV (100-500 copies)", {"vt": "SNP", "ac": {"$gte": 100, "$lte": 500}}),
        ("a rare SNV (one copy)", {"vt": "SNP", "ac": 1}),
        ("a deletion (empty alternateBases: maximally trimmed)", {"vt": "DEL"}),
    )
    found = []
    for title, flt in picks:
        doc = await db[collection].find_one(flt)
        if doc:
            found.append(Example(title, _sequence_params(doc, assembly)))
    if found:
        first = found[0].params
        found.append(
            Example(
                "every allele in a 2 kb range",
                {
                    "referenceName": first["referenceName"],
                    "start": max(0, first["start"] - 1000),
                    "end": first["start"] + 1000,
                    "assemblyId": assembly,
                    "requestedGranularity": "count",
                },
            )
        )
    nowhere = {
        "referenceName": "22",
        "start": 1,
        "referenceBases": "A",
        "alternateBases": "T",
        "assemblyId": assembly,
    }
    found.append(Example("an allele found nowhere", nowhere))
    return found  # fmt: skip


def _print_examples(examples: list[Example], root: str) -> None:
    print(f"\nBeacon v2 node on {root}/  (Ctrl-C stops it)\n")
    print(f"  curl -s {root}/info\n  curl -s {root}/datasets\n")
    for example in examples:
        query = "&".join(f"{k}={v}" for k, v in example.params.items())
        print(f"# {example.title}\n  curl -s '{root}/g_variants?{query}'")
    if examples:
        body = {
            "meta": {"apiVersion": "v2.0.0"},
            "query": {
                "requestParameters": {
                    k: v for k, v in examples[0].params.items() if k != "requestedGranularity"
                },
                "requestedGranularity": "count",
            },
        }
        print(
            f"# the same first query by POST, and the number of individuals carrying it\n"
            f"  curl -s -H 'Content-Type: application/json' -d '{json.dumps(body)}' "
            f"{root}/individuals"
        )
    print(f"\nOpenAPI: {root}/openapi.json\n", flush=True)


def demo(args: argparse.Namespace) -> int:
    settings = load_settings(os.environ, args.config)
    settings = replace(settings, host=args.host or settings.host, port=args.port or settings.port)
    vcf = args.vcf or _cohort(settings.data_dir)
    dataset = args.dataset or (DEMO_DATASET if args.vcf is None else "demo-vcf")
    examples = asyncio.run(_prepare(settings, vcf, _stamp(vcf), dataset, args.assembly))
    root = f"http://{settings.host}:{settings.port}"
    web.run_app(
        create_node_app(settings),
        host=settings.host,
        port=settings.port,
        print=lambda _: _print_examples(examples, root),
    )
    return 0


def add_demo_commands(commands: Any) -> None:
    """Registered by cli.py; msprime is imported only when a cohort must be simulated."""
    run = commands.add_parser("demo", help="simulate a cohort, ingest it and serve a node")
    run.add_argument("--vcf", type=Path, help="serve this VCF instead of the simulated cohort")
    run.add_argument("--assembly", default="GRCh37", help="assembly of --vcf (default GRCh37)")
    run.add_argument("--dataset", help="dataset id (default demo-cohort)")
    run.add_argument("--host")
    run.add_argument("--port", type=int)
    run.set_defaults(func=demo)
