"""A terminal progress bar for ingest; silent when stderr is not a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Draws `records [bar] alleles, rate` at most ten times a second."""

    def __init__(self, total: int | None, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.total = total
        self.started = time.monotonic()
        self._drawn = 0.0

    def update(self, records: int, alleles: int, *, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self._drawn < 0.1):
            return
        self._drawn = now
        rate = alleles / max(now - self.started, 1e-9)
        if self.total:
            share = min(records / self.total, 1.0)
            filled = int(share * 30)
            bar = f"[{'#' * filled}{'.' * (30 - filled)}] {share:6.1%}"
        else:
            bar = f"{records:,} records"
        self.stream.write(f"\r{bar}  {alleles:,} alleles  {rate:,.0f} alleles/s ")
        self.stream.flush()

    def note(self, text: str) -> None:
        """A line of its own under the bar (terminals only, like the bar)."""
        if self.enabled:
            self.stream.write(f"\n{text}")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
