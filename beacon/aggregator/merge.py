"""Many members' answers -> one network answer, every count through the privacy thresholds.

Pure functions over validated member bodies (see schemas/member_answer.json); no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from beacon.aggregator.outcomes import Answered, Failed, Outcome, Status, scalars
from beacon.config import Member
from beacon.privacy import ShownCount, threshold, total_of
from beacon.results import Granularity

NO_COUNT = "member gave no count"
"""Adjustment of a member that said `exists` without a count: it stands in as k."""


@dataclass(frozen=True, slots=True)
class MergedSet:
    """One dataset's result set from one member, stamped with where it came from."""

    member: Member
    beacon_id: str
    id: str
    set_type: str
    exists: bool
    count: ShownCount
    results: tuple[dict[str, Any], ...]
    info: dict[str, Any]


@dataclass(frozen=True, slots=True)
class MemberSummary:
    """One member's line in the answer: status, latency, and what it found (when it answered)."""

    member: Member
    status: Status
    latency: float
    beacon_id: str | None = None
    exists: bool | None = None
    count: ShownCount | None = None
    cached: bool = False
    detail: str = ""
    http_status: int | None = None
    nested: tuple[dict[str, Any], ...] = ()
    withheld: tuple[str, ...] = ()
    """What the member held back from this caller (`notAnswerable`, `countBudget`)."""


@dataclass(frozen=True, slots=True)
class Merged:
    """The network's answer: `total` is None below count granularity."""

    granularity: Granularity
    exists: bool
    total: ShownCount | None
    sets: tuple[MergedSet, ...]
    members: tuple[MemberSummary, ...]


def inconsistency(body: dict[str, Any], asked: Granularity) -> str | None:
    """Why a schema-valid answer still cannot be believed, or None.

    Catches a member claiming `exists` with nothing behind it (or the reverse), and one
    answering a finer granularity than it was asked.
    """
    returned = Granularity.parse(body["meta"]["returnedGranularity"])
    if returned > asked:
        return f"answered {returned.label} when asked for {asked.label}"
    exists = body["responseSummary"]["exists"]
    total = body["responseSummary"].get("numTotalResults")
    if returned >= Granularity.COUNT and total is None:
        return "a count answer without numTotalResults"
    if total is not None and exists != (total > 0):
        return f"exists is {str(exists).lower()} but numTotalResults is {total}"
    if total is not None and _raw_sum(body) > total:
        return f"result sets add up to {_raw_sum(body)}, more than numTotalResults {total}"
    for result_set in body.get("response", {}).get("resultSets", []):
        if result_set["exists"] != (result_set["resultsCount"] > 0):
            return f"result set {result_set['id']!r}: exists disagrees with resultsCount"
        if result_set["exists"] and not exists:
            return f"result set {result_set['id']!r} exists but the answer says it does not"
    return None


def merge(outcomes: list[Outcome], *, granularity: Granularity, k: int) -> Merged:
    """One answer from every member's outcome; failures are listed, never merged."""
    sets: list[MergedSet] = []
    members: list[MemberSummary] = []
    for outcome in outcomes:
        if isinstance(outcome, Failed):
            members.append(_failed(outcome))
            continue
        member_sets = _sets(outcome, k) if granularity >= Granularity.COUNT else []
        sets += member_sets
        members.append(_answered(outcome, member_sets, granularity, k))
    exists = any(m.exists for m in members)
    total = None
    if granularity >= Granularity.COUNT:
        total = total_of([m.count for m in members if m.count is not None], k)
    return Merged(granularity, exists, total, tuple(sets), tuple(members))


def _failed(outcome: Failed) -> MemberSummary:
    return MemberSummary(
        outcome.member,
        outcome.status,
        outcome.latency,
        detail=outcome.detail,
        http_status=outcome.http_status,
    )


def _answered(
    outcome: Answered, sets: list[MergedSet], granularity: Granularity, k: int
) -> MemberSummary:
    body = outcome.body
    summary = body["responseSummary"]
    exists = bool(summary["exists"])
    info = body.get("info")
    nested = info.get("members") if isinstance(info, dict) else None
    withheld = tuple(n for n in _WITHHELD if isinstance(info, dict) and n in info)
    count: ShownCount | None = None
    if granularity >= Granularity.COUNT:
        if sets:
            # Sets may not cover the whole (an inner aggregator's count-only member): the rest
            # of the member's total is one more part, thresholded like the others.
            parts = [s.count for s in sets]
            rest = summary.get("numTotalResults", 0) - _raw_sum(body)
            if rest > 0:
                parts.append(threshold(rest, k, _upstream(summary)))
            count = total_of(parts, k)
        elif "numTotalResults" in summary:
            count = threshold(summary["numTotalResults"], k, _upstream(summary))
        elif exists:
            count = ShownCount(k, (NO_COUNT,))
        elif not withheld:  # a member that held its answer back did not say 0
            count = ShownCount(0)
    return MemberSummary(
        outcome.member,
        Status.OK,
        outcome.latency,
        beacon_id=body["meta"]["beaconId"],
        exists=exists,
        count=count,
        cached=outcome.cached,
        nested=_nested(nested),
        withheld=withheld,
    )


_WITHHELD = ("notAnswerable", "countBudget", "networkBudget")
"""Notes of a member (node or inner aggregator) that it held something back from this caller."""

_NESTED_FIELDS = ("id", "country", "name", "beaconId", "status", "exists")
_NESTED_DEPTH = 4


def _nested(lines: Any, depth: int = 0) -> tuple[dict[str, Any], ...]:
    """An inner aggregator's member lines: who answered and what they said, without counts.

    Rebuilt from known short fields, never passed through. Counts are left out: an inner member's
    count is a sum over its datasets, and next to the datasets' own counts it would give away a
    suppressed one (a total of 103 beside an exact 100).
    """
    if not isinstance(lines, list) or depth >= _NESTED_DEPTH:
        return ()
    rebuilt = []
    for line in lines[:1000]:
        fields = scalars(line)
        clean = {k: fields[k] for k in _NESTED_FIELDS if k in fields}
        inner = _nested(line.get("members"), depth + 1) if isinstance(line, dict) else ()
        if inner:
            clean["members"] = list(inner)
        if clean:
            rebuilt.append(clean)
    return tuple(rebuilt)


def _sets(outcome: Answered, k: int) -> list[MergedSet]:
    member = outcome.member
    beacon_id = outcome.body["meta"]["beaconId"]
    found = []
    for raw in outcome.body.get("response", {}).get("resultSets", []):
        info = scalars(raw.get("info"))
        info.update(memberId=member.id, country=member.country)
        found.append(
            MergedSet(
                member=member,
                beacon_id=raw.get("beaconId") or beacon_id,
                id=raw["id"],
                set_type=raw.get("setType", "dataset"),
                exists=raw["exists"],
                count=threshold(raw["resultsCount"], k, _upstream(raw)),
                results=tuple(raw["results"]),
                info=info,
            )
        )
    return found


def _raw_sum(body: dict[str, Any]) -> int:
    return sum(r["resultsCount"] for r in body.get("response", {}).get("resultSets", []))


def _upstream(section: dict[str, Any]) -> tuple[str, ...]:
    """Adjustments a member (perhaps itself an aggregator) already made to a count."""
    given = section.get("countAdjustedTo")
    adjusted = (
        tuple(a[:64] for a in given[:16] if isinstance(a, str)) if isinstance(given, list) else ()
    )
    precision = section.get("countPrecision")
    if not adjusted and isinstance(precision, str) and precision != "exact":
        adjusted = (precision[:64],)
    return adjusted
