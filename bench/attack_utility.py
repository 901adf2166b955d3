"""What honest users get: single lookups answered correctly, and a clinician's run of rare lookups.

A single lookup is one question about one allele, asked by a caller with nothing spent (a new
account per lookup at REGISTERED). It is correct when it is answered (not withheld, not
rate-limited) and agrees with the ingested data: `exists` for booleans; for counts, zero when
nobody carries the allele, else within the documented precision of max(true, k): the half-width
holding 90% of the noise (0 without noise). The clinician is one REGISTERED user (or the anonymous
caller) asking about distinct rare alleles that the data holds, one query each, in random order.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from attack_cohort import COMMON, Cohort
from attack_run import Answer, Asker, ask_people

COVERAGE = 0.9


def noise_half_width(epsilon: float | None, coverage: float = COVERAGE) -> int:
    """The smallest w with P(|Z| <= w) >= coverage, Z two-sided geometric of exp(-epsilon)."""
    if epsilon is None:
        return 0
    alpha = math.exp(-epsilon)
    w = 0
    while 2 * alpha ** (w + 1) / (1 + alpha) > 1 - coverage:
        w += 1
    return w


@dataclass(frozen=True)
class Judge:
    """Whether an answer is correct for an allele of `truth` carriers in the ingested data."""

    counts: bool
    k: int = 1
    tolerance: int = 0

    def __call__(self, answer: Answer, truth: int) -> bool:
        if answer.exists is None:
            return False
        if not self.counts:
            return answer.exists == (truth > 0)
        if answer.count is None:  # given as boolean only (count budget spent)
            return False
        if truth == 0:
            return answer.count == 0
        return answer.count > 0 and abs(answer.count - max(truth, self.k)) <= self.tolerance


@dataclass(frozen=True)
class Utility:
    common_correct: float
    common_asked: int
    rare_correct: float
    rare_asked: int
    clinician_before_first_miss: int
    clinician_correct: int
    clinician_asked: int
    tolerance: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Picks:
    """Allele indexes: single lookups (common, rare) and the clinician's rare alleles."""

    common: tuple[int, ...]
    rare: tuple[int, ...]
    clinician: tuple[int, ...]


def pick(
    cohort: Cohort, truth: npt.NDArray[np.int64], lookups: int, clinician: int, seed: int
) -> Picks:
    rng = random.Random(seed)
    afs = np.array([a.af for a in cohort.alleles])
    common = np.flatnonzero(afs >= COMMON).tolist()
    rare = np.flatnonzero(afs < COMMON).tolist()
    present = [i for i in rare if truth[i] > 0]
    return Picks(
        tuple(rng.sample(common, min(lookups, len(common)))),
        tuple(rng.sample(rare, min(lookups, len(rare)))),
        tuple(rng.sample(present, min(clinician, len(present)))),
    )


async def measure(
    asker: Asker,
    cohort: Cohort,
    truth: npt.NDArray[np.int64],
    picks: Picks,
    judge: Judge,
    clinician_token: str | None,
    fresh: Callable[[], str | None],
) -> Utility:
    """The clinician first (one caller, nothing spent yet), then the single lookups, each as
    `fresh()` (a new account, or None for anonymous)."""
    clinician = await ask_people(
        asker, cohort.alleles, [picks.clinician], lambda _: clinician_token
    )
    marks = [judge(a, int(truth[i])) for a, i in zip(clinician[0], picks.clinician, strict=True)]
    run = next((n for n, ok in enumerate(marks) if not ok), len(marks))
    singles: Sequence[int] = (*picks.common, *picks.rare)
    answers = await ask_people(asker, cohort.alleles, [[i] for i in singles], lambda _: fresh())
    right = [judge(a[0], int(truth[i])) for a, i in zip(answers, singles, strict=True)]
    n_common = len(picks.common)
    return Utility(
        common_correct=_share(right[:n_common]),
        common_asked=n_common,
        rare_correct=_share(right[n_common:]),
        rare_asked=len(picks.rare),
        clinician_before_first_miss=run,
        clinician_correct=sum(marks),
        clinician_asked=len(marks),
        tolerance=judge.tolerance,
    )


def _share(marks: Sequence[bool]) -> float:
    return sum(marks) / len(marks) if marks else 0.0
