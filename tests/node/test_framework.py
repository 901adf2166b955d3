"""Framework endpoints (info, service-info, configuration, map, entry types, filtering terms,
datasets, OpenAPI) answer bodies valid against the official Beacon v2 schemas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV31SpecValidator

from beacon.config import Settings
from tests.conftest import MT, write_vcf
from tests.official_schemas import assert_valid

TINY_ROWS = [
    "1 100 rs1 A G . PASS . GT 0/1 1/1 0/0 0/0",
    "1 200 . ACGT A,AT . PASS . GT 0/1 1/2 2/2 0/0",
]

# (path, official schema kind) for every GET framework endpoint with a fixed path.
FRAMEWORK = [
    ("/", "info"),
    ("/info", "info"),
    ("/service-info", "service-info"),
    ("/configuration", "configuration"),
    ("/map", "map"),
    ("/entry_types", "entry_types"),
    ("/filtering_terms", "filtering_terms"),
    ("/datasets", "collections"),
]


@pytest.fixture
async def tiny(ingest: Any, tmp_path: Path) -> Any:
    return await ingest(write_vcf(tmp_path / "tiny.vcf", TINY_ROWS), "tiny")


@pytest.fixture
async def two_datasets(ingest: Any, tmp_path: Path) -> dict[str, Any]:
    """The real MT file (GRCh37) and a tiny diploid VCF ingested as GRCh38."""
    mt = await ingest(MT, "mt")
    tiny = await ingest(write_vcf(tmp_path / "tiny.vcf", TINY_ROWS), "tiny38", assembly="hg38")
    return {"mt": mt, "tiny38": tiny}


def _assert_valid_dataset(record: dict[str, Any]) -> None:
    """The official dataset schema, `info` aside: the shared schema copy lacks the
    `common/info.json` it refers to, so `info` (free-form in Beacon v2) cannot be resolved."""
    assert_valid("dataset", {k: v for k, v in record.items() if k != "info"})


async def _get_json(node: Any, path: str) -> tuple[int, dict[str, Any]]:
    response = await node.get(path)
    assert response.content_type == "application/json"
    return response.status, await response.json()


@pytest.mark.parametrize(("path", "kind"), FRAMEWORK, ids=[p for p, _ in FRAMEWORK])
async def test_framework_endpoint_is_valid(
    node: Any, tiny: Any, settings: Settings, path: str, kind: str
) -> None:
    status, body = await _get_json(node, path)
    assert status == 200
    assert_valid(kind, body)
    if kind != "service-info":
        assert body["meta"]["beaconId"] == settings.info.id
        assert body["meta"]["apiVersion"] == "v2.0.0"


async def test_root_and_info_are_the_same_document(node: Any, settings: Settings) -> None:
    _, root = await _get_json(node, "/")
    _, info = await _get_json(node, "/info")
    assert root == info
    assert info["response"]["id"] == settings.info.id
    assert info["response"]["name"] == settings.info.name
    assert info["response"]["apiVersion"] == "v2.0.0"
    assert info["response"]["organization"] == {
        "id": settings.info.organization.id,
        "name": settings.info.organization.name,
    }


async def test_service_info_names_a_ga4gh_beacon(node: Any, settings: Settings) -> None:
    _, body = await _get_json(node, "/service-info")
    assert body["id"] == settings.info.id
    assert body["type"] == {"group": "org.ga4gh", "artifact": "beacon", "version": "v2.0.0"}
    assert body["version"] == settings.info.version


async def test_entry_types_agree_with_configuration_and_map(node: Any) -> None:
    _, entry_types = await _get_json(node, "/entry_types")
    _, configuration = await _get_json(node, "/configuration")
    _, beacon_map = await _get_json(node, "/map")
    served = {"genomicVariation", "individual", "dataset"}
    assert set(entry_types["response"]["entryTypes"]) == served
    assert configuration["response"]["entryTypes"] == entry_types["response"]["entryTypes"]
    assert set(beacon_map["response"]["endpointSets"]) == served


async def test_map_urls_point_at_this_node(node: Any, two_datasets: dict[str, Any]) -> None:
    """Every URL in the map is on this server, and the dataset root answers 200."""
    _, body = await _get_json(node, "/map")
    root = str(node.make_url("")).rstrip("/")
    sets = body["response"]["endpointSets"]
    assert sets["genomicVariation"]["rootUrl"] == f"{root}/g_variants"
    assert sets["genomicVariation"]["singleEntryUrl"] == f"{root}/g_variants/{{id}}"
    assert sets["individual"]["rootUrl"] == f"{root}/individuals"
    assert sets["dataset"]["rootUrl"] == f"{root}/datasets"
    for endpoint in sets.values():
        assert endpoint["openAPIEndpointsDefinition"] == f"{root}/openapi.json"
    status, _ = await _get_json(node, sets["dataset"]["rootUrl"].removeprefix(root))
    assert status == 200


async def test_health(node: Any) -> None:
    status, body = await _get_json(node, "/health")
    assert status == 200
    assert body["status"] == "ok"


async def test_filtering_terms_are_empty(node: Any) -> None:
    _, body = await _get_json(node, "/filtering_terms")
    assert body["response"] == {"filteringTerms": [], "resources": []}


async def test_datasets_list_every_ingested_dataset(
    node: Any, two_datasets: dict[str, Any]
) -> None:
    _, body = await _get_json(node, "/datasets")
    assert_valid("collections", body)
    assert body["responseSummary"] == {"exists": True, "numTotalResults": 2}
    collections = {c["id"]: c for c in body["response"]["collections"]}
    assert list(collections) == ["mt", "tiny38"]
    mt, tiny = collections["mt"], collections["tiny38"]
    assert mt["version"] == two_datasets["mt"].release
    assert mt["info"] == {
        "assemblyId": "GRCh37",
        "samples": 2534,
        "alleles": two_datasets["mt"].alleles,
        "countsFrom": "genotypes",
    }
    # 1 SNV + 2 deletions, 4 samples; "hg38" is stored as its canonical name.
    assert tiny["info"] == {
        "assemblyId": "GRCh38",
        "samples": 4,
        "alleles": 3,
        "countsFrom": "genotypes",
    }
    for collection in collections.values():
        _assert_valid_dataset(collection)


async def test_datasets_list_is_empty_before_any_ingest(node: Any) -> None:
    status, body = await _get_json(node, "/datasets")
    assert status == 200
    assert_valid("collections", body)
    assert body["responseSummary"] == {"exists": False, "numTotalResults": 0}
    assert body["response"]["collections"] == []


async def test_one_dataset(node: Any, two_datasets: dict[str, Any]) -> None:
    status, body = await _get_json(node, "/datasets/tiny38")
    assert status == 200
    assert_valid("collections", body)
    assert body["responseSummary"] == {"exists": True, "numTotalResults": 1}
    [collection] = body["response"]["collections"]
    assert collection["id"] == "tiny38"
    assert collection["version"] == two_datasets["tiny38"].release
    _assert_valid_dataset(collection)


async def test_unknown_dataset_is_a_beacon_404(node: Any, two_datasets: dict[str, Any]) -> None:
    status, body = await _get_json(node, "/datasets/nosuch")
    assert status == 404
    assert_valid("error", body)
    assert body["error"]["errorCode"] == 404
    assert "nosuch" in body["error"]["errorMessage"]


def _app_routes(node: Any) -> set[tuple[str, str]]:
    """(path, lower-case method) of every route the running app serves, HEAD aside."""
    found = set()
    for route in node.server.app.router.routes():
        if route.method == "HEAD":
            continue
        found.add((route.resource.canonical, route.method.lower()))
    return found


async def test_openapi_describes_every_route(node: Any) -> None:
    status, doc = await _get_json(node, "/openapi.json")
    assert status == 200
    assert doc["openapi"] == "3.1.0"
    assert doc["servers"] == [{"url": str(node.make_url("")).rstrip("/")}]
    routes = _app_routes(node)
    described = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert routes == described
    for ops in doc["paths"].values():
        for op in ops.values():
            assert "200" in op["responses"]
            for ref in (r.get("$ref") for r in op["responses"].values()):
                assert ref in (None, "#/components/responses/Error")
    query_params = {p["name"] for p in doc["paths"]["/g_variants"]["get"]["parameters"]}
    assert {"referenceName", "start", "end", "referenceBases", "alternateBases"} <= query_params
    assert {"datasetIds", "requestedGranularity", "skip", "limit"} <= query_params


async def test_openapi_is_a_valid_openapi_3_1_document(node: Any) -> None:
    _, doc = await _get_json(node, "/openapi.json")
    validate(doc, cls=OpenAPIV31SpecValidator)  # raises on any violation
