"""Node latency and throughput against the embedded database, next to a do-nothing aiohttp limit.

    python bench/node.py [--samples 1000] [--alleles 100000] [--requests 2000]

Processes: the embedded SecantusDB server, the node (`beacon serve`), a no-op aiohttp server and
the load generator (bench/loadgen.py) each run on their own; on a 2-core machine they share the
cores, as they would on a small national node. The node runs with its result cache off, so every
request reaches the database (distinct queries: the honest worst case), and then with it on.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from beacon.ingest.load import ingest_vcf
from beacon.simulate import CohortSpec, sequence_length_for, write_cohort_vcf
from beacon.store.connect import client_for
from beacon.store.embedded import embedded_server

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
CONCURRENCY = (1, 16, 64)


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def _cohort(samples: int, alleles: int) -> Path:
    path = OUT / f"node-cohort-{samples}x{alleles}.vcf.gz"
    if not path.exists():
        OUT.mkdir(exist_ok=True)
        spec = CohortSpec(
            samples=samples, seed=7, sequence_length=sequence_length_for(alleles, samples)
        )
        write_cohort_vcf(spec, path)
    return path


async def _load(uri: str, vcf: Path) -> list[dict[str, Any]]:
    client = client_for(uri)
    db = client["bench"]
    summary = await ingest_vcf(db, vcf, dataset="bench", assembly="GRCh37")
    print(f"ingested {summary.alleles:,} alleles in {summary.seconds:.1f} s", file=sys.stderr)
    catalog = await db["datasets"].find_one({"_id": "bench"})
    assert catalog is not None
    docs = (
        await db[catalog["collection"]]
        .find({}, {"chrom": 1, "start": 1, "ref": 1, "alt": 1, "_id": 0})
        .to_list(None)
    )
    await client.close()
    return docs


def _urls(root: str, docs: list[dict[str, Any]], n: int) -> dict[str, list[str]]:
    rng = random.Random(1)
    picks = rng.sample(docs, min(n, len(docs)))
    sequence = [
        f"{root}/g_variants?referenceName={d['chrom']}&start={d['start']}"
        f"&referenceBases={d['ref']}&alternateBases={d['alt']}"
        "&requestedGranularity=count"
        for d in picks
    ]
    ranges = [
        f"{root}/g_variants?referenceName={d['chrom']}&start={d['start']}"
        f"&end={d['start'] + 10_000}&requestedGranularity=count"
        for d in picks
    ]
    return {
        "sequence": sequence,
        "range 10 kb": ranges,
        "sequence, 100 hot queries": sequence[:100],
    }


def _loadgen(urls: list[str], concurrency: int, requests: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(urls, handle)
    out = subprocess.run(
        [sys.executable, str(HERE / "loadgen.py"), handle.name, str(concurrency), str(requests)],
        capture_output=True,
        text=True,
        check=True,
    )
    os.unlink(handle.name)
    result: dict[str, float] = json.loads(out.stdout)
    return result


def _serve_node(uri: str, cache_alleles: int) -> tuple[subprocess.Popen[bytes], int]:
    port = _port()
    config = OUT / f"node-{cache_alleles}.toml"
    config.write_text(f'[database]\nname = "bench"\ncache_alleles = {cache_alleles}\n')
    env = {**os.environ, "BEACON_MONGO_URI": uri, "BEACON_PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "beacon", "--config", str(config), "serve"],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    _wait(port)
    return proc, port


def _row(name: str, conc: int, node: dict[str, float], limit: dict[str, float]) -> str:
    return (
        f"| {name} | {conc} | {node['p50_ms']:.1f} | {node['p99_ms']:.1f} | {node['rps']:.0f} "
        f"| {limit['p50_ms']:.1f} | {limit['p99_ms']:.1f} | {limit['rps']:.0f} "
        f"| {node['rps'] / limit['rps']:.2f} | {int(node['errors'])} |"
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--alleles", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    vcf = await asyncio.to_thread(_cohort, args.samples, args.alleles)
    with tempfile.TemporaryDirectory() as data_dir:
        async with embedded_server(Path(data_dir)) as server:
            docs = await _load(server.uri, vcf)
            await asyncio.to_thread(_measure, server.uri, docs, args.requests)


def _measure(uri: str, docs: list[dict[str, Any]], requests: int) -> None:
    limit_port = _port()
    limit = subprocess.Popen([sys.executable, str(HERE / "noop_server.py"), str(limit_port)])
    _wait(limit_port)
    print(
        "| workload | concurrency | node p50 ms | node p99 ms | node req/s "
        "| limit p50 ms | limit p99 ms | limit req/s | node/limit | errors |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    try:
        for cache, label in ((0, "cache off"), (10_000, "cache on")):
            node, port = _serve_node(uri, cache)
            try:
                _run_all(docs, port, limit_port, requests, label)
            finally:
                node.terminate()
                node.wait()
    finally:
        limit.terminate()
        limit.wait()


def _run_all(
    docs: list[dict[str, Any]], port: int, limit_port: int, requests: int, label: str
) -> None:
    workloads = _urls(f"http://127.0.0.1:{port}", docs, requests)
    limit_urls = [f"http://127.0.0.1:{limit_port}/g_variants?x={i}" for i in range(requests)]
    for name, urls in workloads.items():
        if (label == "cache on") != name.endswith("hot queries"):
            continue
        for conc in CONCURRENCY:
            node = _loadgen(urls, conc, requests)
            limit = _loadgen(limit_urls, conc, requests)
            print(_row(f"{name}, {label}", conc, node, limit), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
