"""What a member's answer must be before it is merged: `schemas/member_answer.json`, checked fast.

The schema is the documented contract; this is the same contract as plain Python, about twenty
times faster than a generic validator, which matters when every query brings one answer per
member. A test feeds both the same bodies and expects the same verdicts. One deliberate
difference: a count written with a fraction (`5.0`) is refused here, where JSON Schema would
call it an integer.
"""

from __future__ import annotations

from typing import Any

MAX_COUNT = 1_000_000_000_000
MAX_SETS = 3000
MAX_RECORDS = 1000
_GRANULARITIES = frozenset({"boolean", "count", "record"})


def answer_problem(body: dict[str, Any]) -> str | None:
    """The first way `body` breaks the member answer contract, or None."""
    meta, summary = body.get("meta"), body.get("responseSummary")
    if not isinstance(meta, dict):
        return "meta: missing or not an object"
    if not isinstance(summary, dict):
        return "responseSummary: missing or not an object"
    problem = (
        _text(meta, "beaconId", 256, required=True, where="meta")
        or _text(meta, "apiVersion", 64, required=True, where="meta", empty=True)
        or _granularity(meta)
        or _counted(summary, "numTotalResults", "responseSummary", required=False)
    )
    if problem:
        return problem
    if not isinstance(summary.get("exists"), bool):
        return "responseSummary/exists: missing or not true/false"
    if "info" in body and not isinstance(body["info"], dict):
        return "info: not an object"
    response = body.get("response", {})
    if not isinstance(response, dict):
        return "response: not an object"
    sets = response.get("resultSets", [])
    if not isinstance(sets, list) or len(sets) > MAX_SETS:
        return f"response/resultSets: not a list of at most {MAX_SETS}"
    for index, result_set in enumerate(sets):
        problem = _result_set(result_set, f"response/resultSets/{index}")
        if problem:
            return problem
    return None


def _result_set(result_set: Any, where: str) -> str | None:
    if not isinstance(result_set, dict):
        return f"{where}: not an object"
    if not isinstance(result_set.get("exists"), bool):
        return f"{where}/exists: missing or not true/false"
    records = result_set.get("results")
    if not isinstance(records, list) or len(records) > MAX_RECORDS:
        return f"{where}/results: missing or not a list of at most {MAX_RECORDS}"
    if not all(isinstance(record, dict) for record in records):
        return f"{where}/results: every record must be an object"
    if "info" in result_set and not isinstance(result_set["info"], dict):
        return f"{where}/info: not an object"
    return (
        _text(result_set, "id", 256, required=True, where=where)
        or _text(result_set, "setType", 64, required=False, where=where, empty=True)
        or _text(result_set, "beaconId", 256, required=False, where=where)
        or _counted(result_set, "resultsCount", where, required=True)
    )


def _counted(section: dict[str, Any], key: str, where: str, *, required: bool) -> str | None:
    """A count (whole, 0..MAX_COUNT) and the optional countAdjustedTo / countPrecision."""
    if key in section or required:
        value = section.get(key)
        if type(value) is not int or not 0 <= value <= MAX_COUNT:
            return f"{where}/{key}: not a whole number from 0 to {MAX_COUNT}"
    adjusted = section.get("countAdjustedTo", [])
    if not isinstance(adjusted, list) or len(adjusted) > 16:
        return f"{where}/countAdjustedTo: not a list of at most 16"
    if not all(isinstance(a, str) and len(a) <= 64 for a in adjusted):
        return f"{where}/countAdjustedTo: every item must be a short string"
    return _text(section, "countPrecision", 64, required=False, where=where, empty=True)


def _text(
    section: dict[str, Any],
    key: str,
    longest: int,
    *,
    required: bool,
    where: str,
    empty: bool = False,
) -> str | None:
    if key not in section:
        return f"{where}/{key}: missing" if required else None
    value = section[key]
    if not isinstance(value, str) or len(value) > longest or (not empty and not value):
        return f"{where}/{key}: not a string of {0 if empty else 1} to {longest} characters"
    return None


def _granularity(meta: dict[str, Any]) -> str | None:
    granularity = meta.get("returnedGranularity")
    if not isinstance(granularity, str) or granularity not in _GRANULARITIES:
        return "meta/returnedGranularity: missing or not boolean, count or record"
    return None
