"""The audit log: who asked what, which datasets it touched, what was given, and why.

One entry per query answer or refusal, written as a JSON line and to the `audit` collection.
Entries hold the caller's pseudonym and the canonical query, never a token or a genotype. The
request only queues its entry; a background writer appends the file and inserts in batches, so
the database stays off the request path.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

COLLECTION = "audit"
_QUERY_CHARS = 2000


@dataclass(frozen=True, slots=True)
class AuditEntry:
    principal: str
    """The caller's pseudonym, or "anonymous"."""
    tier: str
    endpoint: str
    query: str
    """The canonical query (coordinates, assembly and names normalised)."""
    datasets: tuple[str, ...]
    requested: str
    given: str
    decision: str
    """answered, capped (a coarser granularity than asked), refused_401 or refused_403 (a named
    dataset above the caller's tier), refused_401_token (a token that failed its checks)."""
    budget_spent: float = 0.0
    request_id: str = ""


Insert = Callable[[list[dict[str, Any]]], Awaitable[Any]]


class AuditLog:
    """Queue entries from requests; `run()` writes them until cancelled, then flushes."""

    def __init__(self, path: Path | None, insert: Insert | None, capacity: int = 20_000) -> None:
        self._path = path
        self._insert = insert
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(capacity)
        self.dropped = 0

    def record(self, entry: AuditEntry) -> None:
        """Queue one entry; never waits. A full queue (the writer far behind) drops and logs."""
        row = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), **asdict(entry)}
        row["datasets"] = list(entry.datasets)
        row["query"] = entry.query[:_QUERY_CHARS]  # a long allele spelled out is cut, not kept
        try:
            self._queue.put_nowait(row)
        except asyncio.QueueFull:
            self.dropped += 1
            log.error("audit queue full; entry dropped", extra={"dropped": self.dropped})

    async def run(self, every: float = 0.5) -> None:
        """Flush every `every` s until cancelled (then once more); a failed round is logged."""
        try:
            while True:
                await asyncio.sleep(every)
                try:
                    await self.flush()
                except Exception:
                    log.exception("audit flush failed; trying again")
        finally:
            await asyncio.shield(self.flush())

    async def flush(self) -> None:
        rows = []
        while not self._queue.empty():
            rows.append(self._queue.get_nowait())
        if not rows:
            return
        if self._path is not None:
            lines = "".join(json.dumps(row, separators=(",", ":")) + "\n" for row in rows)
            try:
                await asyncio.to_thread(_append, self._path, lines)
            except Exception:  # the database still gets them; the writer goes on
                log.exception("audit entries not written to the file", extra={"n": len(rows)})
        if self._insert is not None:
            try:
                await self._insert([dict(row) for row in rows])
            except Exception:  # the file has them; a database outage must not stop the writer
                log.exception("audit entries not stored in the database", extra={"n": len(rows)})


def _append(path: Path, lines: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(lines)
