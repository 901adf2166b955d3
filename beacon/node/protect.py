"""The membership defences of each tier, applied to what the store found before `disclose`.

PUBLIC: an answer only where the reference population's frequencies make "no" unlikely anyway
(the gate); other datasets are withheld ("not answerable at this tier"). REGISTERED: rare alleles
answered under a per-(user, individual) risk budget, counts with keyed noise and a per-user
budget of count answers. CONTROLLED: as found (and audited). A beacon without `[access]` is open:
nothing here applies. The decisions are `beacon.privacy`'s; this module fetches what they need.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace

from beacon.auth import AccessPolicy, Principal, Tier
from beacon.privacy import NEGLIGIBLE_COST, Protection, gate_open, risk_cost, weight
from beacon.query import AlleleQuery
from beacon.results import DatasetHits, Granularity
from beacon.store import VariantStore
from beacon.store.ledger import Account, Ledger, query_digest
from beacon.store.reference import ReferenceFrequencies

NOT_ANSWERABLE = (
    "not answerable at this tier: the allele is too rare in the reference population for an "
    "anonymous answer to be safe; sign in as a registered researcher (bearer token) to ask"
)
TOO_RARE_TO_COUNT = (
    "counts are given only for alleles at least as common in the reference population as "
    "[privacy] count_min_frequency; answered as boolean"
)
COUNTS_USED = (
    "your count answers for this dataset release are used up; answered as boolean until the "
    "next release"
)
_RETRIES = 5
_LOCKS = 10_000


@dataclass
class Guarded:
    """What the defences let through: the hits to disclose, which datasets were withheld, which
    may show no count (budget spent), which counts carry noise, and the risk charged."""

    found: list[DatasetHits]
    withheld: list[str] = field(default_factory=list)
    boolean_only: list[str] = field(default_factory=list)
    budget_spent: list[str] = field(default_factory=list)
    too_rare: list[str] = field(default_factory=list)
    """`budget_spent` and `too_rare` say why datasets are in `boolean_only`."""
    noised: set[str] = field(default_factory=set)
    spent: float = 0.0


@dataclass(frozen=True)
class Asked:
    """One request as the defences see it: the query (or one allele id), its canonical form,
    the endpoint, and the granularity the answer would have."""

    query: AlleleQuery | str
    canonical: str
    kind: str
    granularity: Granularity


class Guard:
    def __init__(
        self,
        policy: AccessPolicy,
        protection: Protection,
        store: VariantStore,
        ledger: Ledger,
        reference: ReferenceFrequencies,
    ) -> None:
        self.policy = policy
        self.protection = protection
        self.store = store
        self.ledger = ledger
        self.reference = reference
        self._locks: dict[str, asyncio.Lock] = {}

    async def apply(self, caller: Principal, asked: Asked, found: list[DatasetHits]) -> Guarded:
        if not self.policy.enforced:
            return Guarded(found)
        guarded = Guarded([])
        registered = [h for h in found if self.policy.tier(caller, h.dataset.id) is Tier.REGISTERED]
        if caller.subject is not None and registered:
            # One answer has one granularity: settle whether it can hold counts before any
            # dataset records a count the caller would then not be shown.
            if asked.granularity >= Granularity.COUNT:
                asked = await self._counts_allowed(caller.subject, asked, registered, guarded)
            async with self._lock(caller.subject):
                for hits in found:
                    guarded.found.append(await self._one(caller, asked, hits, guarded))
            return guarded
        for hits in found:
            guarded.found.append(await self._one(caller, asked, hits, guarded))
        return guarded

    def _lock(self, subject: str) -> asyncio.Lock:
        """One user's budgeted answers one at a time in this process (other processes are kept
        apart by the ledger's conditional writes)."""
        lock = self._locks.get(subject)
        if lock is None:
            lock = self._locks[subject] = asyncio.Lock()
            if len(self._locks) > _LOCKS:
                idle = [s for s, held in self._locks.items() if not held.locked()]
                for s in idle[: len(idle) // 2]:
                    del self._locks[s]
        return lock

    async def _counts_allowed(
        self, subject: str, asked: Asked, registered: list[DatasetHits], guarded: Guarded
    ) -> Asked:
        """`asked`, or `asked` at boolean when a REGISTERED dataset may give no count: the
        allele is too rare to count, or the user's count budget for it is spent."""
        digest = query_digest(asked.canonical, asked.kind)
        for hits in registered:
            ds = hits.dataset
            if await self._weight(asked, ds.assembly) < self.protection.count_weight:
                guarded.too_rare.append(ds.id)
                continue
            account = await self.ledger.account(subject, ds.id, ds.release)
            told = account.answers.get(digest)
            if not (told and told[1]) and account.counts >= self.protection.count_budget:
                guarded.budget_spent.append(ds.id)
        if guarded.too_rare or guarded.budget_spent:
            guarded.boolean_only.extend(dict.fromkeys(guarded.too_rare + guarded.budget_spent))
            return replace(asked, granularity=Granularity.BOOLEAN)
        return asked

    async def _weight(self, asked: Asked, assembly: str) -> float:
        """The reference weight of what the query matches (0 without a reference loaded)."""
        found = await self.reference.lookup(asked.query, assembly)
        return found[0] if found is not None else 0.0

    async def _one(
        self, caller: Principal, asked: Asked, hits: DatasetHits, guarded: Guarded
    ) -> DatasetHits:
        ds = hits.dataset
        tier = self.policy.tier(caller, ds.id)
        if tier is Tier.CONTROLLED:
            return hits
        guarded.noised.add(ds.id)
        public = tier is Tier.PUBLIC or caller.subject is None
        if public and not self.protection.gate:
            return hits  # no reference read for answers nothing withholds
        weight_ = await self._weight(asked, ds.assembly)
        common = gate_open(weight_, ds.samples, self.protection.gate_error)
        if public or caller.subject is None:  # (the second half only narrows the type)
            if common:
                return hits
            guarded.withheld.append(ds.id)
            return DatasetHits(ds, 0, (), None, {"note": NOT_ANSWERABLE})
        counting = asked.granularity >= Granularity.COUNT
        if common and not counting:
            return hits
        for _ in range(_RETRIES):
            account = await self.ledger.account(caller.subject, ds.id, ds.release)
            decided = await self._registered(account, asked, hits, common, counting)
            if decided is not None:
                shown, spent, counted = decided
                if counting and not counted:  # spent by a racing request of another process
                    guarded.boolean_only.append(ds.id)
                    guarded.budget_spent.append(ds.id)
                guarded.spent += spent
                return shown
        return _no(hits)  # fail closed: an answer that spends nothing

    async def _registered(
        self, account: Account, asked: Asked, hits: DatasetHits, common: bool, counting: bool
    ) -> tuple[DatasetHits, float, bool] | None:
        """(hits to show, risk charged, count given) for a REGISTERED caller; None when the
        account changed under us (decide again)."""
        digest = query_digest(asked.canonical, asked.kind)
        told = account.answers.get(digest)
        if told is None and len(account.answers) >= self.protection.history_max:
            return _no(hits), 0.0, False  # the account is full: nothing more until a release
        charges: dict[int, float] = {}
        if told is not None:
            exists = hits.exists and told[0]  # as answered before, whatever the budget now
        elif hits.exists and not common:
            paid = await self._charges(account, asked, hits)
            exists, charges = paid is not None, paid or {}
        else:
            exists = hits.exists
        counted_before = told is not None and told[1]
        count = counting and (counted_before or account.counts < self.protection.count_budget)
        new_count = count and not counted_before
        decided_now = told is None and hits.exists and not common
        if new_count or decided_now:
            settled = await self.ledger.settle(
                account, charges=charges, count=new_count, digest=digest, answer=[exists, count]
            )
            if not settled:
                return None
        return (hits if exists else _no(hits)), sum(charges.values()), count

    async def _charges(
        self, account: Account, asked: Asked, hits: DatasetHits
    ) -> dict[int, float] | None:
        """What a "yes" charges each carrier; None when any carrier's budget cannot pay."""
        ds = hits.dataset
        carried = await self.store.carriers(asked.query, ds)
        known = await self.reference.lookup(asked.query, ds.assembly)
        reference = known[1] if known else {}
        # The reference frequency where there is one (an allele listed at 0 is never answered
        # "yes"); else the dataset's own. Never the higher of the two: the bench measured power
        # 0.17 that way, since a member's own copy is what lifts the dataset's frequency.
        frequencies = [reference.get(key, ac / max(an, 1)) for key, ac, an in carried.alleles]
        cost = risk_cost(weight(frequencies), ds.samples)
        if not carried.samples:  # no genotypes: no one to charge, so no rare "yes" at all
            return None if cost >= NEGLIGIBLE_COST or not ds.samples else {}
        if cost < NEGLIGIBLE_COST:
            return {}
        budget = self.protection.budget
        if any(account.spent.get(i, 0.0) + cost > budget for i in carried.samples):
            return None
        return dict.fromkeys(carried.samples, cost)


def _no(hits: DatasetHits) -> DatasetHits:
    """A silent "no": telling that a budget refused would tell that the allele is there."""
    return DatasetHits(hits.dataset, 0, (), None if hits.individuals is None else 0)
