"""Validation against the official Beacon v2 schemas in ../shared (never copied)."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.protocols import Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SHARED = Path(os.environ.get("BEACON_SHARED_DIR", Path(__file__).resolve().parents[2] / "shared"))
SCHEMA_ROOT = SHARED / "beacon-v2-schemas"
BASE = "https://raw.githubusercontent.com/ga4gh-beacon/beacon-v2/main/"
VRS = "https://w3id.org/ga4gh/schema/vrs/1.3/vrs.json"

RESPONSE_SCHEMAS = {
    "boolean": "framework/json/responses/beaconBooleanResponse.json",
    "count": "framework/json/responses/beaconCountResponse.json",
    "record": "framework/json/responses/beaconResultsetsResponse.json",
    "info": "framework/json/responses/beaconInfoResponse.json",
    "service-info": "framework/json/responses/ga4gh-service-info-1-0-0-schema.json",
    "configuration": "framework/json/responses/beaconConfigurationResponse.json",
    "map": "framework/json/responses/beaconMapResponse.json",
    "entry_types": "framework/json/responses/beaconEntryTypesResponse.json",
    "filtering_terms": "framework/json/responses/beaconFilteringTermsResponse.json",
    "collections": "framework/json/responses/beaconCollectionsResponse.json",
    "error": "framework/json/responses/beaconErrorResponse.json",
    "variant": "models/json/beacon-v2-default-model/genomicVariations/defaultSchema.json",
    "dataset": "models/json/beacon-v2-default-model/datasets/defaultSchema.json",
}


@cache
def _registry() -> Registry[Any]:
    if not SCHEMA_ROOT.is_dir():
        raise RuntimeError(f"official schemas not found at {SCHEMA_ROOT}; set BEACON_SHARED_DIR")
    resources = []
    for path in SCHEMA_ROOT.rglob("*.json"):
        contents = json.loads(path.read_text())
        uri = VRS if path.name == "vrs.json" else BASE + path.relative_to(SCHEMA_ROOT).as_posix()
        resource = Resource.from_contents(contents, default_specification=DRAFT202012)
        resources.append((uri, resource))
    return Registry().with_resources(resources)


@cache
def validator(kind: str) -> Validator:
    return Draft202012Validator({"$ref": BASE + RESPONSE_SCHEMAS[kind]}, registry=_registry())


def assert_valid(kind: str, instance: Any) -> None:
    """Raise AssertionError listing every violation of the official schema for `kind`."""
    errors = sorted(validator(kind).iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in errors[:10]]
        raise AssertionError(
            f"response is not a valid {kind} ({len(errors)} errors):\n" + "\n".join(lines)
        )


def assert_valid_answer(body: dict[str, Any]) -> None:
    """A g_variants/individuals answer at its returned granularity, and every record in it."""
    returned = body["meta"]["returnedGranularity"]
    assert_valid(returned, body)
    for result_set in body.get("response", {}).get("resultSets", []):
        for record in result_set["results"]:
            assert_valid("variant", record)
