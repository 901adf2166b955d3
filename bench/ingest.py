"""Ingest throughput and peak memory on a generated cohort (default 1,000,000 alleles x 1,000).

    python bench/ingest.py [--samples 1000] [--alleles 1000000]

The cohort is simulated once (bench/make_cohort.py, cached in bench/out/). The embedded database
runs as its own process; `beacon ingest` runs as another, so the peak resident memory of each is
measured separately (the ingest's from wait4, the database's from /proc VmHWM).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from beacon.store.embedded import embedded_server

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"


def _peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _ingest(uri: str, vcf: Path, dataset: str) -> tuple[float, int, str]:
    env = {**os.environ, "BEACON_MONGO_URI": uri, "BEACON_DB": "bench_ingest"}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "beacon",
            "ingest",
            str(vcf),
            "--dataset",
            dataset,
            "--assembly",
            "GRCh37",
        ],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    assert proc.stdout is not None
    summary = proc.stdout.read()
    if status != 0:
        raise SystemExit(f"ingest failed with status {status}")
    return seconds, usage.ru_maxrss, summary


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--alleles", type=int, default=1_000_000)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    vcf = OUT / f"cohort-{args.samples}x{args.alleles}.vcf.gz"
    make = [
        sys.executable,
        str(HERE / "make_cohort.py"),
        str(vcf),
        "--seed",
        "1",
        "--samples",
        str(args.samples),
        "--alleles",
        str(args.alleles),
    ]
    await asyncio.to_thread(subprocess.run, make, check=True)
    with tempfile.TemporaryDirectory(dir=OUT) as data_dir:
        async with embedded_server(Path(data_dir)) as server:
            seconds, ingest_kib, summary = await asyncio.to_thread(_ingest, server.uri, vcf, "b")
            db_kib = _peak_kib(server.pid)
    print(summary.strip())
    print(
        f"\nwall time {seconds:.1f} s; peak memory: ingest process {ingest_kib / 1024:.0f} MiB, "
        f"database process {db_kib / 1024:.0f} MiB; VCF {vcf.stat().st_size / 2**20:.0f} MiB"
    )


if __name__ == "__main__":
    asyncio.run(main())
