"""Processes and HTTP for the attack bench: a node (`beacon serve`) on its own database, perhaps
an aggregator (`beacon aggregate`) in front of it, and the queries, many people at once.

Each person's queries go one after another in their order (budgets depend on it); up to
`PEOPLE_AT_ONCE` people are attacked at the same time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from attack_cohort import Allele

PEOPLE_AT_ONCE = 16
WITHHELD = "notAnswerable"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _listening(port: int, proc: asyncio.subprocess.Process, log: Path) -> None:
    until = time.monotonic() + 60
    while time.monotonic() < until:
        if proc.returncode is not None:
            said = await asyncio.to_thread(log.read_text)
            raise RuntimeError(f"exited with {proc.returncode}: {said[-2000:]}")
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}; see {log}")


@contextlib.asynccontextmanager
async def beacon_process(
    args: list[str], port: int, env: dict[str, str], log: Path
) -> AsyncIterator[str]:
    """`python -m beacon ARGS` listening on `port`; yields its base URL; stderr kept in `log`."""
    with log.open("w") as err:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "beacon", *args, env={**os.environ, **env},
            stdout=asyncio.subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
        try:
            await _listening(port, proc, log)
            yield f"http://127.0.0.1:{port}"
        finally:
            if proc.returncode is None:
                proc.terminate()
                await proc.wait()


async def run_beacon(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """`python -m beacon ARGS` to its end: exit status and what it printed (both streams)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "beacon", *args, env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    return int(proc.returncode or 0), out.decode(errors="replace").strip()


@dataclass(frozen=True)
class Answer:
    """What one query told: exists (None: withheld or refused), a count (count queries only),
    what the beacon says it did to the count, and the HTTP status."""

    exists: bool | None
    count: int | None = None
    adjusted: tuple[str, ...] = ()
    status: int = 200


def _adjusted(body: dict[str, Any]) -> tuple[str, ...]:
    found: list[str] = []
    for result_set in body.get("response", {}).get("resultSets", []):
        found += result_set.get("countAdjustedTo", [])
        found += result_set.get("info", {}).get("countAdjustedTo", [])
    return tuple(dict.fromkeys(found))


def _withheld(body: dict[str, Any]) -> bool:
    """The node says so in `info`; an aggregator lists it per member: withheld when every member
    that answered withheld."""
    info = body.get("info", {})
    if WITHHELD in info:
        return True
    answered = [m for m in info.get("members", []) if m.get("status") == "ok"]
    return bool(answered) and all(WITHHELD in m.get("withheld", ()) for m in answered)


def parse_answer(body: dict[str, Any], counts: bool) -> Answer:
    summary = body.get("responseSummary", {})
    if _withheld(body):
        return Answer(None, None, _adjusted(body))
    count = summary.get("numTotalResults") if counts else None
    return Answer(bool(summary.get("exists")), count, _adjusted(body))


class Asker:
    """Sends one allele query to one beacon, as one caller, through a shared session."""

    def __init__(self, session: aiohttp.ClientSession, base: str, counts: bool) -> None:
        self.session, self.base, self.counts = session, base, counts
        self.path = "/individuals" if counts else "/g_variants"
        self.granularity = "count" if counts else "boolean"

    async def __call__(self, allele: Allele, token: str | None) -> Answer:
        params = {**allele.params(), "requestedGranularity": self.granularity}
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.session.get(self.base + self.path, params=params, headers=headers) as got:
            if got.status == 429:  # rate-limited: nothing learnt
                return Answer(None, status=429)
            if got.status != 200:
                raise RuntimeError(f"HTTP {got.status} for {params}: {(await got.text())[:300]}")
            return parse_answer(await got.json(), self.counts)


async def ask_people(
    asker: Asker,
    alleles: Sequence[Allele],
    queries: Sequence[Sequence[int]],
    token_for: Callable[[int], str | None],
) -> list[list[Answer]]:
    """Person i asks about `queries[i]` (allele indexes) in order, as `token_for(i)`."""
    gate = asyncio.Semaphore(PEOPLE_AT_ONCE)

    async def person(i: int) -> list[Answer]:
        async with gate:
            token = token_for(i)
            return [await asker(alleles[a], token) for a in queries[i]]

    return list(await asyncio.gather(*(person(i) for i in range(len(queries)))))


def session() -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=2 * PEOPLE_AT_ONCE)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60))
