"""Ingest fixtures: a VCF big enough to interrupt, and `beacon ingest` run as a real process."""

from __future__ import annotations

import asyncio
import os
import random
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import write_vcf

BIG_RECORDS = 20_000


def beacon_command() -> list[str]:
    """The installed `beacon` console script next to this interpreter."""
    script = Path(sys.executable).with_name("beacon")
    assert script.is_file(), f"{script} is missing: install the project (pip install -e .)"
    return [str(script)]


@pytest.fixture(scope="session")
def big_vcf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20,000 biallelic records over 4 samples: several seconds of ingest, so it can be cut."""
    rng = random.Random(7)
    calls = ["0/0", "0/0", "0/0", "0/1", "1/1"]
    rows = [
        f"1 {10 + i} . A G . PASS . GT " + " ".join(rng.choice(calls) for _ in range(4))
        for i in range(BIG_RECORDS)
    ]
    return write_vcf(tmp_path_factory.mktemp("big") / "big.vcf", rows)


@pytest.fixture
def cli_env(mongo_uri: str, db_name: str, tmp_path: Path) -> dict[str, str]:
    """Environment that points `beacon` at this test's database (never at a default one)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEACON_")}
    return {
        **env,
        "BEACON_MONGO_URI": mongo_uri,
        "BEACON_DB": db_name,
        "BEACON_DATA_DIR": str(tmp_path / "data"),
    }


@dataclass(frozen=True)
class Running:
    """A started `beacon ingest` process and the files its stdout and stderr go to."""

    proc: asyncio.subprocess.Process
    out: Path
    err: Path


StartIngest = Callable[..., Awaitable[Running]]


@pytest.fixture
async def start_ingest(cli_env: dict[str, str], tmp_path: Path) -> AsyncIterator[StartIngest]:
    """`await start_ingest(path, dataset, *args)` starts `beacon ingest` as a real process.

    Any process still running at the end of the test is killed.
    """
    started: list[Running] = []

    async def start(path: Path, dataset: str, *args: str) -> Running:
        out, err = tmp_path / f"ingest-{len(started)}.out", tmp_path / f"ingest-{len(started)}.err"
        with out.open("wb") as out_file, err.open("wb") as err_file:
            proc = await asyncio.create_subprocess_exec(
                *beacon_command(),
                "ingest",
                str(path),
                "--dataset",
                dataset,
                "--assembly",
                "GRCh37",
                *args,
                env=cli_env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out_file,
                stderr=err_file,
            )
        started.append(Running(proc, out, err))
        return started[-1]

    yield start
    for running in started:
        if running.proc.returncode is None:
            running.proc.kill()
            await running.proc.wait()
