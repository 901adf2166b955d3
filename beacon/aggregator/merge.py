"""Many members' answers -> one network answer, every count through the privacy thresholds.

Pure functions over validated member bodies (see schemas/member_answer.json); no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from beacon.aggregator.outcomes import Answered, Failed, Outcome, Status
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
        else:
            count = ShownCount(k, (NO_COUNT,)) if exists else ShownCount(0)
    info = body.get("info")
    nested = info.get("members") if isinstance(info, dict) else None
    return MemberSummary(
        outcome.member,
        Status.OK,
        outcome.latency,
        beacon_id=body["meta"]["beaconId"],
        exists=exists,
        count=count,
        cached=outcome.cached,
        nested=_nested(nested, k, depth=0),
    )


_NESTED_TEXT = ("id", "country", "name", "beaconId", "status", "detail")
_NESTED_DEPTH = 4


def _nested(lines: Any, k: int, depth: int) -> tuple[dict[str, Any], ...]:
    """An inner aggregator's member lines, rebuilt from known fields with this network's k.

    Never passed through as sent: an inner network with a smaller k (or a careless one) must
    not show a count this network would hide.
    """
    if not isinstance(lines, list) or depth >= _NESTED_DEPTH:
        return ()
    rebuilt = []
    for line in lines[:1000]:
        if not isinstance(line, dict):
            continue
        clean: dict[str, Any] = {
            key: str(line[key])[:300] for key in _NESTED_TEXT if isinstance(line.get(key), str)
        }
        for key in ("exists", "cached"):
            if isinstance(line.get(key), bool):
                clean[key] = line[key]
        for key in ("latencyMs", "httpStatus"):
            if isinstance(line.get(key), int | float) and not isinstance(line.get(key), bool):
                clean[key] = line[key]
        count = line.get("count")
        if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
            shown = threshold(count, k, _upstream(line))
            clean.update(count=shown.value, countPrecision=shown.precision)
            if shown.adjusted:
                clean["countAdjustedTo"] = list(shown.adjusted)
        inner = _nested(line.get("members"), k, depth + 1)
        if inner:
            clean["members"] = list(inner)
        rebuilt.append(clean)
    return tuple(rebuilt)


def _sets(outcome: Answered, k: int) -> list[MergedSet]:
    member = outcome.member
    beacon_id = outcome.body["meta"]["beaconId"]
    found = []
    for raw in outcome.body.get("response", {}).get("resultSets", []):
        info = dict(raw.get("info") or {})
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
    adjusted = tuple(str(a) for a in section.get("countAdjustedTo") or ())
    if not adjusted and section.get("countPrecision") not in (None, "exact"):
        adjusted = (str(section["countPrecision"]),)
    return adjusted
