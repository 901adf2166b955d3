"""Beacon v2 response envelopes. Query answers are built only from a privacy `Disclosure`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from beacon.assemblies import refseq_accession
from beacon.config import Settings
from beacon.node.params import CONTROL_KEYS
from beacon.privacy import Disclosure, ShownCount
from beacon.query import Allele
from beacon.results import DatasetHits, DatasetInfo, Granularity, VariantHit

API_VERSION = "v2.0.0"
VARIANT_SCHEMA = {"entityType": "genomicVariation", "schema": "beacon-g_variant-v2.0.0"}
INDIVIDUAL_SCHEMA = {"entityType": "individual", "schema": "beacon-individual-v2.0.0"}
DATASET_SCHEMA = {"entityType": "dataset", "schema": "beacon-dataset-v2.0.0"}


@dataclass(frozen=True)
class Received:
    """What the client asked, echoed in `receivedRequestSummary`."""

    params: dict[str, Any]
    granularity: Granularity
    include: str
    skip: int
    limit: int
    test_mode: bool

    @classmethod
    def of(cls, params: dict[str, Any], default_limit: int) -> Received:
        """From validated flat parameters; unset ones take the spec's defaults."""
        return cls(
            params=params,
            granularity=Granularity.parse(params.get("requestedGranularity", "boolean")),
            include=params.get("includeResultsetResponses", "HIT"),
            skip=params.get("skip", 0),
            limit=params.get("limit") or default_limit,
            test_mode=bool(params.get("testMode", False)),
        )


def informational_meta(settings: Settings, schemas: list[dict[str, str]]) -> dict[str, Any]:
    return {"beaconId": settings.info.id, "apiVersion": API_VERSION, "returnedSchemas": schemas}


def query_meta(
    settings: Settings, received: Received, returned: Granularity, schema: dict[str, str]
) -> dict[str, Any]:
    params = {k: v for k, v in received.params.items() if k not in CONTROL_KEYS}
    summary: dict[str, Any] = {
        "apiVersion": received.params.get("apiVersion", API_VERSION),
        "requestedSchemas": received.params.get("requestedSchemas", []),
        "pagination": {"skip": received.skip, "limit": received.limit},
        "requestedGranularity": received.granularity.label,
        "includeResultsetResponses": received.include,
        "requestParameters": {"g_variant": params},
        "filters": [],
        "testMode": received.test_mode,
    }
    return {
        "beaconId": settings.info.id,
        "apiVersion": API_VERSION,
        "returnedSchemas": [schema],
        "returnedGranularity": returned.label,
        "receivedRequestSummary": summary,
        "testMode": received.test_mode,
    }


def error_body(settings: Settings, status: int, message: str) -> dict[str, Any]:
    meta = {
        "beaconId": settings.info.id,
        "apiVersion": API_VERSION,
        "returnedSchemas": [],
        "returnedGranularity": "boolean",
        "receivedRequestSummary": {
            "apiVersion": API_VERSION,
            "requestedSchemas": [],
            "pagination": {"skip": 0, "limit": 0},
            "requestedGranularity": "boolean",
        },
    }
    return {"meta": meta, "error": {"errorCode": status, "errorMessage": message}}


def included(found: bool, include: str) -> bool:
    """Whether `includeResultsetResponses` (HIT, MISS, ALL, NONE) shows a set that `found`."""
    return include == "ALL" or (include == "HIT" and found) or (include == "MISS" and not found)


def variant_answer(
    settings: Settings, received: Received, disclosure: Disclosure
) -> dict[str, Any]:
    """A g_variants answer; `resultsCount` counts matching alleles, as the spec defines it."""
    return _answer(
        settings,
        received,
        disclosure,
        VARIANT_SCHEMA,
        "total",
        lambda h: [variant_record(v, h.dataset) for v in h.page],
    )


def individuals_answer(
    settings: Settings, received: Received, disclosure: Disclosure
) -> dict[str, Any]:
    """An individuals answer: per dataset, distinct individuals carrying a matching allele."""
    return _answer(settings, received, disclosure, INDIVIDUAL_SCHEMA, "individuals", lambda h: [])


def adjustments(count: ShownCount) -> dict[str, Any]:
    """`countAdjustedTo` and `countPrecision` for a count some rule changed; nothing otherwise."""
    if not count.adjusted:
        return {}
    return {"countAdjustedTo": list(count.adjusted), "countPrecision": count.precision}


def _answer(
    settings: Settings,
    received: Received,
    disclosure: Disclosure,
    schema: dict[str, str],
    kind: str,
    records: Callable[[DatasetHits], list[dict[str, Any]]],
) -> dict[str, Any]:
    granularity = disclosure.granularity
    counts = [(h, disclosure.shown(h, kind)) for h in disclosure.datasets]
    shown = [(h, c) for h, c in counts if included(c.value > 0, received.include)]
    body: dict[str, Any] = {
        "meta": query_meta(settings, received, granularity, schema),
        "responseSummary": {"exists": any(c.value > 0 for _, c in counts)},
    }
    if disclosure.notes:
        body["info"] = dict(disclosure.notes)
    if granularity >= Granularity.COUNT:
        total = disclosure.total(kind)
        body["responseSummary"].update(numTotalResults=total.value, **adjustments(total))
        # NONE still sends an empty list: the official result-sets response requires `response`.
        body["response"] = {"resultSets": [_result_set(h, c, records(h)) for h, c in shown]}
    return body


def _result_set(
    hits: DatasetHits, count: ShownCount, records: list[dict[str, Any]]
) -> dict[str, Any]:
    info: dict[str, Any] = {
        "assemblyId": hits.dataset.assembly,
        "release": hits.dataset.release,
        **hits.extra,
    }
    return {
        "id": hits.dataset.id,
        "setType": "dataset",
        "exists": count.value > 0,
        "resultsCount": count.value,
        **adjustments(count),
        "results": records,
        "info": info,
    }


def _location(allele: Allele, assembly: str) -> dict[str, Any]:
    """A VRS SequenceLocation, interbase (0-based, half-open) on the RefSeq chromosome."""
    return {
        "type": "SequenceLocation",
        "sequence_id": f"refseq:{refseq_accession(assembly, allele.chrom)}",
        "interval": {
            "type": "SequenceInterval",
            "start": {"type": "Number", "value": allele.start},
            "end": {"type": "Number", "value": allele.end},
        },
    }


def _frequency(hit: VariantHit, dataset: DatasetInfo) -> dict[str, Any]:
    counts = hit.counts
    frequency: dict[str, Any] = {
        "population": dataset.id,
        "alleleFrequency": round(counts.frequency, 8),
        "alleleCount": counts.allele_count,
        "alleleNumber": counts.allele_number,
    }
    if counts.carriers is not None:
        frequency.update(
            alleleCountHomozygous=counts.homozygous,
            alleleCountHeterozygous=counts.heterozygous,
            alleleCountHemizygous=counts.hemizygous,
        )
    source = {"source": dataset.name, "sourceReference": dataset.id, "version": dataset.release}
    return {**source, "frequencies": [frequency]}


def variant_record(hit: VariantHit, dataset: DatasetInfo) -> dict[str, Any]:
    """One genomicVariation record: a LegacyVariation with a VRS SequenceLocation (0-based)."""
    allele = hit.allele
    info = {
        "countsFrom": dataset.counts_source,
        "assemblyId": dataset.assembly,
        "referenceName": allele.chrom,
    }
    if allele.symbolic:
        info["symbolicAllele"] = allele.alt
    record: dict[str, Any] = {
        "variantInternalId": allele.key,
        "variation": {
            "variantType": allele.variant_type,
            "referenceBases": allele.ref,
            "alternateBases": "" if allele.symbolic else allele.alt,
            "location": _location(allele, dataset.assembly),
        },
        "frequencyInPopulations": [_frequency(hit, dataset)],
        "variantLevelData": {"info": info},
    }
    if hit.names:
        record["identifiers"] = {"variantAlternativeIds": [{"id": n} for n in hit.names]}
    return record


def collections_body(settings: Settings, records: list[dict[str, Any]]) -> dict[str, Any]:
    """A /datasets answer: every dataset record, at record granularity."""
    received = Received({}, Granularity.RECORD, "ALL", 0, len(records), False)
    return {
        "meta": query_meta(settings, received, Granularity.RECORD, DATASET_SCHEMA),
        "responseSummary": {"exists": bool(records), "numTotalResults": len(records)},
        "response": {"collections": records},
    }


def dataset_record(dataset: DatasetInfo) -> dict[str, Any]:
    return {
        "id": dataset.id,
        "name": dataset.name,
        "description": dataset.description,
        "createDateTime": dataset.created,
        "updateDateTime": dataset.updated,
        "version": dataset.release,
        "info": {
            "assemblyId": dataset.assembly,
            "samples": dataset.samples,
            "alleles": dataset.alleles,
            "countsFrom": dataset.counts_source,
        },
    }
