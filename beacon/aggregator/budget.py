"""The aggregator's own, network-wide budget: count answers per person per day across members.

Each member keeps its budgets per person and dataset release; a person asking the whole network
could still collect that many counts from every member. This caps what one person (pseudonym,
else a keyed hash of their address) gets from the network per UTC day; past it, answers come as
booleans. Asking a query already counted today is free. Kept in a JSON file in the data
directory (written atomically, at most every few seconds, and at shutdown), so a restart does not
hand out fresh budgets.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

NETWORK_BUDGET_NOTE = (
    "your count answers from this network for today are used up; answered as boolean until "
    "00:00 UTC"
)


def _day(clock: Callable[[], float]) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(clock()))


class NetworkBudget:
    def __init__(
        self,
        per_day: int,
        path: Path | None,
        *,
        people: int = 100_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.per_day = per_day
        self.path = path
        self._people = people
        self._clock = clock
        self._day = _day(clock)
        self._spent: dict[str, list[str]] = {}
        self.dirty = False
        self._key = secrets.token_bytes(32)
        self._load()

    def person(self, subject: str | None, address: str) -> str:
        """A signed-in caller's pseudonym, else a keyed hash of their address (the key lives in
        this process: no address is written to disk)."""
        if subject is not None:
            return subject
        return "address:" + hmac.new(self._key, address.encode(), hashlib.sha256).hexdigest()[:32]

    def spend(self, person: str, canonical: str) -> bool:
        """Whether `person` may have a count for this query (recording it when new)."""
        today = _day(self._clock)
        if today != self._day:
            self._day, self._spent = today, {}
        digest = hashlib.sha256(canonical.encode()).hexdigest()[:20]
        spent = self._spent.get(person)
        if spent is None:
            if len(self._spent) >= self._people:  # bounded: the day's first-seen person goes
                del self._spent[next(iter(self._spent))]
            spent = self._spent[person] = []
        if digest in spent:
            return True
        if len(spent) >= self.per_day:
            return False
        spent.append(digest)
        self.dirty = True
        return True

    def snapshot(self) -> str | None:
        """The day's ledger as JSON when it changed since the last snapshot, else None."""
        if self.path is None or not self.dirty:
            return None
        self.dirty = False
        return json.dumps({"day": self._day, "spent": self._spent})

    def write(self, text: str) -> None:
        """Write a snapshot atomically (a temporary file renamed over the old one); blocking,
        so the app runs it in a thread."""
        assert self.path is not None
        temporary = self.path.with_suffix(".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_text(text)
            os.replace(temporary, self.path)
        except OSError as exc:
            self.dirty = True
            log.warning("could not save the network budget: %s", exc)

    def save(self) -> None:
        text = self.snapshot()
        if text is not None:
            self.write(text)

    def _load(self) -> None:
        if self.path is None or not self.path.exists():
            return
        try:
            saved = json.loads(self.path.read_text())
            if saved.get("day") == self._day and isinstance(saved.get("spent"), dict):
                self._spent = {
                    str(k): [str(d) for d in v][: self.per_day]
                    for k, v in saved["spent"].items()
                    if isinstance(v, list)
                }
        except (OSError, ValueError, AttributeError) as exc:
            log.warning("could not read the network budget (starting afresh): %s", exc)
