"""The network's Beacon v2 envelope, built only from a `Merged` answer (thresholds applied)."""

from __future__ import annotations

from typing import Any

from beacon.aggregator.merge import MemberSummary, Merged, MergedSet
from beacon.config import NetworkConfig, Settings
from beacon.node.responses import Received, included, query_meta
from beacon.privacy import ShownCount
from beacon.results import Granularity


def count_fields(count: ShownCount) -> dict[str, Any]:
    """`countPrecision`, and `countAdjustedTo` naming what changed the count, if anything did."""
    fields: dict[str, Any] = {"countPrecision": count.precision}
    if count.adjusted:
        fields["countAdjustedTo"] = list(count.adjusted)
    return fields


WITHHELD_BY_MEMBERS = (
    "these members did not answer at your access tier (the allele is too rare for an anonymous "
    "answer); sign in as a registered researcher to ask them"
)


def network_answer(
    settings: Settings,
    network: NetworkConfig,
    received: Received,
    merged: Merged,
    schema: dict[str, str],
    elapsed: float,
    notes: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One Beacon v2 answer for the whole network; members' statuses (and `notes`, e.g. a
    budget used up) in the top-level `info`."""
    body: dict[str, Any] = {
        "meta": query_meta(settings, received, merged.granularity, schema),
        "responseSummary": {"exists": merged.exists},
        "info": {
            "network": _network_line(network, merged, elapsed),
            "members": [_member_line(m) for m in merged.members],
            **(notes or {}),
        },
    }
    withheld = [m.member.id for m in merged.members if "notAnswerable" in m.withheld]
    if withheld:  # "no" from everyone else is not "no" from these
        body["info"]["notAnswerable"] = {"members": withheld, "message": WITHHELD_BY_MEMBERS}
    if merged.total is not None:
        body["responseSummary"].update(
            numTotalResults=merged.total.value, **count_fields(merged.total)
        )
        shown = [s for s in merged.sets if included(s.exists, received.include)]
        records = merged.granularity is Granularity.RECORD
        body["response"] = {"resultSets": [_result_set(s, records) for s in shown]}
    return body


def _network_line(network: NetworkConfig, merged: Merged, elapsed: float) -> dict[str, Any]:
    answered = sum(1 for m in merged.members if m.exists is not None)
    return {
        "membersAnswered": answered,
        "membersTotal": len(merged.members),
        "membersFound": sum(1 for m in merged.members if m.exists),
        "deadlineMs": round(network.deadline * 1000),
        "elapsedMs": round(elapsed * 1000, 1),
        "countThreshold": network.k,
    }


def _member_line(summary: MemberSummary) -> dict[str, Any]:
    member = summary.member
    line: dict[str, Any] = {
        "id": member.id,
        "country": member.country,
        "name": member.name,
        "status": summary.status.value,
        "latencyMs": round(summary.latency * 1000, 1),
        "cached": summary.cached,
    }
    if summary.beacon_id is not None:
        line["beaconId"] = summary.beacon_id
    if summary.exists is not None:
        line["exists"] = summary.exists
    if summary.count is not None:
        line.update(count=summary.count.value, **count_fields(summary.count))
    if summary.http_status is not None:
        line["httpStatus"] = summary.http_status
    if summary.detail:
        line["detail"] = summary.detail
    if summary.nested:
        line["members"] = list(summary.nested)
    if summary.withheld:
        line["withheld"] = list(summary.withheld)
    return line


def _result_set(merged: MergedSet, records: bool) -> dict[str, Any]:
    return {
        "id": merged.id,
        "setType": merged.set_type,
        "beaconId": merged.beacon_id,
        "exists": merged.exists,
        "resultsCount": merged.count.value,
        **count_fields(merged.count),
        "results": list(merged.results) if records else [],
        "info": merged.info,
    }
