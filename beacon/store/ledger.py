"""Privacy budgets and answer history, in the database so they survive restarts.

One document per (user pseudonym, dataset, release): the risk each of the dataset's individuals
has been charged by this user's "yes" answers, how many count answers the user has had, and the
answers already given (so asking again is answered the same and charged nothing). Writes are
conditional on a version number, so two requests of one user racing each other (even on two node
processes) cannot both spend the same budget: the loser reads again and decides again.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError

from beacon.store.mongo import _unavailable

LEDGER = "privacy_ledger"
STATE = "privacy_state"


@dataclass
class Account:
    """One user's budget state for one dataset release, as read (version 0: nothing yet)."""

    key: str
    version: int = 0
    spent: dict[int, float] = field(default_factory=dict)
    counts: int = 0
    answers: dict[str, list[bool]] = field(default_factory=dict)
    """Query digest -> [exists, counted]: what this user was already told."""


def query_digest(canonical: str, kind: str) -> str:
    """A short, field-name-safe digest of one canonical query at one endpoint."""
    return hashlib.sha256(f"{kind}\x1f{canonical}".encode()).hexdigest()[:24]


class Ledger:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.db = db
        self._secret: bytes | None = None

    async def secret(self) -> bytes:
        """The noise key of this beacon: made once, kept in the database, so noise stays the
        same across restarts and across the processes of one node."""
        if self._secret is None:
            try:
                with contextlib.suppress(DuplicateKeyError):  # made by another process
                    await self.db[STATE].insert_one(
                        {"_id": "noise_key", "value": secrets.token_bytes(32)}
                    )
                doc = await self.db[STATE].find_one({"_id": "noise_key"})
            except PyMongoError as exc:
                raise _unavailable(exc) from exc
            assert doc is not None
            self._secret = bytes(doc["value"])
        return self._secret

    async def account(self, subject: str, dataset: str, release: str) -> Account:
        key = f"{subject}|{dataset}|{release}"
        try:
            doc = await self.db[LEDGER].find_one({"_id": key})
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        if doc is None:
            return Account(key)
        return Account(
            key,
            doc["v"],
            {int(i): float(c) for i, c in doc.get("spent", {}).items()},
            int(doc.get("counts", 0)),
            dict(doc.get("answers", {})),
        )

    async def settle(
        self,
        account: Account,
        *,
        charges: dict[int, float],
        count: bool,
        digest: str,
        answer: list[bool],
    ) -> bool:
        """Record one answer and what it spent; False when the account changed since it was
        read (the caller reads it again and decides again)."""
        increments: dict[str, Any] = {"v": 1}
        if count:
            increments["counts"] = 1
        increments.update({f"spent.{i}": cost for i, cost in charges.items()})
        try:
            result = await self.db[LEDGER].update_one(
                {"_id": account.key, "v": account.version},
                {"$inc": increments, "$set": {f"answers.{digest}": answer}},
                upsert=account.version == 0,
            )
        except DuplicateKeyError:
            return False  # created by a racing request in the meantime
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        return result.upserted_id is not None or result.modified_count == 1
