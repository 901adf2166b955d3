"""The disclosure policy: what a Principal may see of what was found. Pure functions.

The node's response builders accept only a `Disclosure` (granularity capped, counts noised and
thresholded); the aggregator passes every count it shows through `threshold` and `total_of`. The
membership defences' arithmetic (the reference gate, risk costs, keyed noise) is here too;
`beacon.node.protect` applies it with the store's and the ledger's help.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from beacon.auth import Principal
from beacon.results import DatasetHits, Granularity


@dataclass(frozen=True, slots=True)
class ShownCount:
    """A count as it may be shown: the value, and what was done to it.

    `adjusted` names the rules that changed it (`"threshold"`: a true count in 1..k-1 is shown as
    k); `precision` is `"exact"` only when nothing was adjusted, here or upstream.
    """

    value: int
    adjusted: tuple[str, ...] = ()

    @property
    def precision(self) -> str:
        return "imprecise" if self.adjusted else "exact"


def threshold(count: int, k: int, upstream: tuple[str, ...] = ()) -> ShownCount:
    """No count in 1..k-1 is ever shown: it becomes k. Zero stays zero (nothing to hide).

    `upstream` carries adjustments a member already made, so an imprecise count stays marked so.
    """
    if 0 < count < k:
        return ShownCount(k, tuple(dict.fromkeys((*upstream, "threshold"))))
    return ShownCount(count, upstream)


def total_of(parts: list[ShownCount], k: int) -> ShownCount:
    """A total built from what its parts show, never from their true values.

    Summing the true counts would let anyone subtract the exact parts from the total and recover
    a suppressed one; summing the shown values keeps every part's adjustment in the total.
    """
    adjusted = tuple(dict.fromkeys(a for part in parts for a in part.adjusted))
    return threshold(sum(part.value for part in parts), k, adjusted)


COUNTED = ("total", "individuals")
"""What a dataset's answer counts: matching allele records, or individuals carrying them."""


@dataclass(frozen=True, slots=True)
class Disclosure:
    """What may be returned: at which granularity, and per dataset what was found, its counts
    already as they may be shown (`adjusted` says what changed which count) and the totals."""

    requested: Granularity
    granularity: Granularity
    datasets: tuple[DatasetHits, ...]
    adjusted: Mapping[tuple[str, str], tuple[str, ...]]
    totals: Mapping[str, ShownCount]
    notes: Mapping[str, Any] = field(default_factory=dict)
    """What the caller should know about the answer (withheld datasets, budgets used up)."""

    @property
    def exists(self) -> bool:
        return any(hit.exists for hit in self.datasets)

    def shown(self, hits: DatasetHits, kind: str) -> ShownCount:
        """One dataset's `total` or `individuals` count as shown."""
        value = getattr(hits, kind) or 0
        return ShownCount(value, self.adjusted.get((hits.dataset.id, kind), ()))

    def total(self, kind: str) -> ShownCount:
        return self.totals[kind]


@dataclass(frozen=True, slots=True)
class Noise:
    """Keyed noise for the counts of `datasets`: `secret` is the beacon's noise key, `canonical`
    the query as every spelling of it reads."""

    secret: bytes
    canonical: str
    epsilon: float
    datasets: frozenset[str]


def _shown(hits: DatasetHits, kind: str, k: int, noise: Noise | None) -> ShownCount:
    count = getattr(hits, kind) or 0
    if noise is None or hits.dataset.id not in noise.datasets:
        return threshold(count, k)
    key = noise_key(noise.secret, noise.canonical, hits.dataset.id, hits.dataset.release, kind)
    shown = noisy(count, key, noise.epsilon)
    return threshold(shown.value, k, shown.adjusted)


def disclose(
    found: list[DatasetHits],
    *,
    principal: Principal,
    requested: Granularity,
    ceiling: Granularity,
    k: int = 1,
    exempt: frozenset[str] = frozenset(),
    noise: Noise | None = None,
    notes: Mapping[str, Any] | None = None,
) -> Disclosure:
    """Cap the granularity; drop record pages when records may not be shown; add `noise` to the
    counts of its datasets; show no count in 1..k-1 for a dataset (except the `exempt` ones: the
    caller's CONTROLLED datasets) or a total.

    Totals are sums of the shown counts, so no total minus exact parts recovers a hidden one.
    """
    granularity = min(requested, ceiling)
    adjusted: dict[tuple[str, str], tuple[str, ...]] = {}
    parts: dict[str, list[ShownCount]] = {kind: [] for kind in COUNTED}
    datasets = []
    for hits in found:
        limit = 1 if hits.dataset.id in exempt else k
        total = _shown(hits, "total", limit, noise)
        individuals = (
            None if hits.individuals is None else _shown(hits, "individuals", limit, noise)
        )
        for kind, shown in (("total", total), ("individuals", individuals)):
            parts[kind].append(shown or ShownCount(0))
            if shown is not None and shown.adjusted:
                adjusted[(hits.dataset.id, kind)] = shown.adjusted
        page = hits.page if granularity is Granularity.RECORD else ()
        datasets.append(
            DatasetHits(
                hits.dataset,
                total.value,
                page,
                None if individuals is None else individuals.value,
                hits.extra,
            )
        )
    # Every shown part is 0 or at least k unless exempt, so a total below k can only come from
    # the caller's own CONTROLLED datasets: it needs no threshold of its own.
    totals = {kind: total_of(parts[kind], 1) for kind in COUNTED}
    return Disclosure(requested, granularity, tuple(datasets), adjusted, totals, notes or {})


# --- Defences against membership inference (../shared/PRIVACY.md) --------------------------


@dataclass(frozen=True, slots=True)
class Protection:
    """The `[privacy]` settings of the membership defences, applied by tier when `[access]` is
    configured (a beacon without it is open: every caller anonymous, none of this applies).

    `gate_error` is e of the PUBLIC gate; `noise` adds keyed noise to counts below CONTROLLED;
    `risk_p` sets the REGISTERED per-(user, individual) budget B = -log10(p); `count_epsilon` the
    noise per count answer; `count_budget` the count answers one user gets per dataset release;
    `rate_per_minute` requests per client (0: no limit).
    """

    gate: bool = True
    gate_error: float = 1e-3
    noise: bool = True
    risk_p: float = 0.5
    count_epsilon: float = 0.1
    count_budget: int = 100
    count_min_frequency: float = 0.01
    """REGISTERED counts only where the reference alleles weigh as much as one allele this
    common (PRIVACY.md measured noise plus a budget behind a 1% gate); rarer: booleans."""
    rate_per_minute: int = 120
    history_max: int = 50_000
    """Answers remembered per user and dataset release; past it, budgeted answers are "no"."""

    @property
    def budget(self) -> float:
        return -math.log10(self.risk_p)

    @property
    def count_weight(self) -> float:
        """The reference weight (see `weight`) of one allele of `count_min_frequency`."""
        return weight([self.count_min_frequency])


def weight(frequencies: Iterable[float]) -> float:
    """-sum ln(1-f) over alleles: (1-f)^(2N) over all of them is exp(-2N * weight).

    A frequency of 1 or more makes the weight infinite (the answer is certain to be "yes")."""
    total = 0.0
    for f in frequencies:
        if f >= 1.0:
            return math.inf
        total -= math.log1p(-max(f, 0.0))
    return total


def absent_probability(weight_: float, samples: int) -> float:
    """D = prod (1-f)^(2N): how likely a beacon of `samples` people lacks all these alleles."""
    return math.exp(-2 * samples * weight_) if samples > 0 else 1.0


def gate_open(reference_weight: float, samples: int, error: float) -> bool:
    """The PUBLIC gate: answer only when the reference population makes "no" unlikely anyway,
    (1-f)^(2N) <= e, so whether one person is in the beacon barely moves the answer.

    For one allele this is f >= ln(1/e)/(2N) (to first order). `reference_weight` must come from
    a reference population, never from the beacon's own counts, which membership moves.
    """
    return absent_probability(reference_weight, samples) <= error


def f_min(samples: int, error: float) -> float:
    """ln(1/e)/(2N): to first order, the smallest reference frequency the PUBLIC gate answers
    for a dataset of `samples` (the exact boundary, from `gate_open`, is a little lower)."""
    return math.log(1 / error) / (2 * samples) if samples > 0 else math.inf


def risk_cost(weight_: float, samples: int) -> float:
    """What one "yes" charges every carrier: -log10(1 - D), D = (1-f)^(2N) (Raisaro 2017)."""
    d = absent_probability(weight_, samples)
    return math.inf if d >= 1.0 else -math.log10(1.0 - d)


NEGLIGIBLE_COST = 1e-6
"""Charges below this are not recorded: a carrier would need 300,000 of them to spend B = 0.3."""


def noise_key(secret: bytes, *parts: str) -> bytes:
    """The HMAC that seeds one count's noise: the same canonical query, dataset and release
    always get the same noise (asking again averages nothing away)."""
    return hmac.new(secret, "\x1f".join(parts).encode(), hashlib.sha256).digest()


def geometric_noise(key: bytes, epsilon: float) -> int:
    """Two-sided geometric noise (the discrete Laplace of epsilon-differential privacy) drawn
    deterministically from a 32-byte key: P(x) proportional to exp(-epsilon * |x|)."""
    alpha = math.exp(-epsilon)
    draws = []
    for chunk in (key[:8], key[8:16]):
        u = (int.from_bytes(chunk, "big") + 0.5) / 2**64  # in (0, 1), never 0
        draws.append(math.floor(math.log(u) / math.log(alpha)))
    return draws[0] - draws[1]


def noisy(count: int, key: bytes, epsilon: float) -> ShownCount:
    """A count with its noise: zero stays zero (the boolean answer says as much), a positive
    count stays positive (it would contradict `exists` otherwise)."""
    if count <= 0:
        return ShownCount(0)
    return ShownCount(max(1, count + geometric_noise(key, epsilon)), ("noise",))
