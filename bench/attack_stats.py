"""The attacker's statistics: log-likelihood ratios of "in the beacon" against "not in it", and
power at a fixed false-positive rate. Pure functions; no HTTP here.

Booleans (Shringarpure & Bustamante 2015): for an allele of reference frequency f in a beacon
of N people, P(no | out) = (1-f)^(2N) and P(no | in) = d (1-f)^(2N-2).

Counts of carriers: with q = 1 - (1-f)^2 the chance that one person carries the allele, the
true count T is Binomial(N, q) when the person is out and 1 + Binomial(N-1, q) when in (they
carry it). The shown count S passes the beacon's documented mechanism (beacon.privacy): a true 0
stays 0; a positive count gets two-sided geometric noise of parameter exp(-epsilon) (none when
epsilon is None) and stays at least 1; then a value in 1..k-1 is shown as k. The answer's log LR is
log[(1-d) P(S | in) / P(S | out) + d], d covering the person's allele missing from the data.
With exact counts this is log(S / (N q)) for S >= 1, the exact binomial ratio.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

D = 1e-6
"""The error rate: the chance that a member's allele is missing from the beacon's data."""
F_FLOOR = 1e-5
"""Reference frequencies are at least 1/5008 here; the floor only keeps logs finite."""
CHECKPOINTS = (1, 10, 50, 100, 300, 1000)
"""Queries per person at which power is read; 1 and 100 (the default count budget) are
beyond the brief's four."""
FPR = 0.05

Floats = npt.NDArray[np.float64]


def boolean_llr(exists: bool | None, f: float, n: int, d: float = D) -> float:
    """One boolean answer's log LR; None (withheld) carries nothing."""
    if exists is None:
        return 0.0
    f = min(max(f, F_FLOOR), 1 - F_FLOOR)
    log_no_out = 2 * n * math.log1p(-f)
    log_no_in = math.log(d) + (2 * n - 2) * math.log1p(-f)
    if not exists:
        return log_no_in - log_no_out
    return math.log(-math.expm1(log_no_in)) - math.log(-math.expm1(log_no_out))


def _binomial(n: int, q: float) -> Floats:
    """P(T = t) for t = 0..n, T ~ Binomial(n, q), built in log space (no overflow)."""
    t = np.arange(n, dtype=np.float64)
    steps = np.log(n - t) - np.log(t + 1) + math.log(q) - math.log1p(-q)
    logs = np.concatenate(([n * math.log1p(-q)], n * math.log1p(-q) + np.cumsum(steps)))
    return np.exp(logs)


@dataclass
class CountModel:
    """What the attacker believes about a count answer: N, the threshold k, the noise."""

    n: int
    k: int = 1
    epsilon: float | None = None
    d: float = D
    _pmfs: dict[float, tuple[Floats, Floats]] = field(default_factory=dict)

    def _pmf(self, f: float) -> tuple[Floats, Floats]:
        """P(T = t | out), P(T = t | in) for t = 0..n."""
        if f not in self._pmfs:
            f_used = min(max(f, F_FLOOR), 1 - F_FLOOR)
            q = 1 - (1 - f_used) ** 2
            out = _binomial(self.n, q)
            inside = np.concatenate(([0.0], _binomial(self.n - 1, q)))
            self._pmfs[f] = (out, inside)
        return self._pmfs[f]

    def _shown_given_true(self, shown: int) -> Floats:
        """P(S = shown | T = t) for t = 0..n: zero stays zero; a positive count gets noise and
        stays at least 1; then 1..k-1 is shown as k (beacon.privacy's order)."""
        t = np.arange(self.n + 1)
        positive = t > 0
        floor = max(self.k, 1)
        if shown <= 0:
            return (~positive).astype(np.float64)
        if shown < floor:
            return np.zeros(self.n + 1)
        if self.epsilon is None:
            moved = np.where(positive & (t < floor), floor, t)
            hit: Floats = (positive & (moved == shown)).astype(np.float64)
            return hit
        alpha = math.exp(-self.epsilon)
        if shown == floor:  # P(t + Z <= floor)
            m = (floor - t).astype(np.float64)
            below = np.where(m >= 0, 1 - alpha ** (np.maximum(m, 0) + 1) / (1 + alpha),
                             alpha ** np.maximum(-m, 0) / (1 + alpha))  # fmt: skip
            return np.where(positive, below, 0.0)
        exact = (1 - alpha) / (1 + alpha) * alpha ** np.abs(shown - t).astype(np.float64)
        return np.where(positive, exact, 0.0)

    def llr(self, shown: int | None, f: float) -> float:
        """One count answer's log LR; None (withheld) carries nothing."""
        if shown is None:
            return 0.0
        out, inside = self._pmf(f)
        given = self._shown_given_true(shown)
        p_out, p_in = float(out @ given), float(inside @ given)
        if p_out <= 0.0:
            return 50.0 if p_in > 0 else 0.0  # beyond what doubles can tell apart
        return math.log((1 - self.d) * p_in / p_out + self.d)


def power_at(victims: Sequence[float], controls: Sequence[float], fpr: float = FPR) -> float:
    """Share of victims whose statistic beats the controls' (1 - fpr) quantile: at most
    floor(fpr x controls) controls may lie above the threshold; ties are not detections."""
    ranked = sorted(controls, reverse=True)
    allowed = math.floor(fpr * len(ranked) + 1e-9)
    threshold = ranked[allowed] if allowed < len(ranked) else -math.inf
    return sum(v > threshold for v in victims) / len(victims) if victims else 0.0


def cumulative(llrs: Sequence[float], at: int) -> float:
    return float(sum(llrs[:at]))


def power_table(
    victims: Sequence[Sequence[float]], controls: Sequence[Sequence[float]]
) -> dict[int, dict[str, float]]:
    """Per checkpoint: power, and how many queries people really got (some carry fewer)."""
    table: dict[int, dict[str, float]] = {}
    for at in CHECKPOINTS:
        used = [min(at, len(p)) for p in (*victims, *controls)]
        table[at] = {
            "power": power_at(
                [cumulative(p, at) for p in victims], [cumulative(p, at) for p in controls]
            ),
            "queries_mean": float(np.mean(used)) if used else 0.0,
            "queries_min": float(min(used, default=0)),
        }
    return table
