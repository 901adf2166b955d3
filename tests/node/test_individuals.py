"""/individuals: distinct carriers of any matching allele, per dataset, never listed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CHR1, write_vcf
from tests.official_schemas import assert_valid_answer

# Carriers (s1..s4): 1_99_A_G s1 s2; 1_109_C_T s1 s3; 1_109_C_G s3; 1_199_G_A s4;
# 1_299_T_C nobody (AC 0).
COHORT = [
    "1 100 . A G . PASS . GT 0/1 1/1 0/0 0/0",
    "1 110 . C T,G . PASS . GT 1/1 0/0 1/2 0/0",
    "1 200 . G A . PASS . GT 0/0 0/0 0/0 0/1",
    "1 300 . T C . PASS . GT 0/0 0/0 0/0 0/0",
]
# A second cohort of three: 1_99_A_G carried by t1 and t3.
SECOND = ["1 100 . A G . PASS . GT 0/1 0/0 1/1"]
# No genotypes at all: counts come from INFO, carriers are unknown.
SITES_ONLY = ["1 100 . A G . PASS AC=5;AN=100"]


@pytest.fixture
async def cohorts(ingest: Any, tmp_path: Path) -> None:
    await ingest(write_vcf(tmp_path / "cohort.vcf", COHORT), "cohort")
    await ingest(write_vcf(tmp_path / "second.vcf", SECOND, samples=["t1", "t2", "t3"]), "second")


async def individuals(node: Any, **params: Any) -> dict[str, Any]:
    response = await node.get("/individuals", params={k: str(v) for k, v in params.items()})
    body: dict[str, Any] = await response.json()
    assert response.status == 200, body
    assert_valid_answer(body)
    assert body["meta"]["returnedSchemas"] == [
        {"entityType": "individual", "schema": "beacon-individual-v2.0.0"}
    ]
    return body


def counts(body: dict[str, Any]) -> dict[str, int]:
    return {s["id"]: s["resultsCount"] for s in body["response"]["resultSets"]}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param({"start": 99, "end": 100}, {"cohort": 2, "second": 2}, id="one-allele"),
        pytest.param(
            {"start": 109, "end": 110}, {"cohort": 2, "second": 0}, id="two-alts-one-site"
        ),
        pytest.param(
            {"start": 99, "end": 110}, {"cohort": 3, "second": 2}, id="s1-carries-two-counted-once"
        ),
        pytest.param({"start": 0, "end": 1000}, {"cohort": 4, "second": 2}, id="everyone"),
        pytest.param({"start": 299, "end": 300}, {"cohort": 0, "second": 0}, id="ac-zero"),
        pytest.param(
            {"start": 109, "referenceBases": "C", "alternateBases": "G"},
            {"cohort": 1, "second": 0},
            id="sequence",
        ),
        pytest.param(
            {"start": 0, "end": 1000, "variantType": "SNP", "alternateBases": "T"},
            {"cohort": 2, "second": 0},
            id="narrowed",
        ),
    ],
)
async def test_carriers_are_a_union_per_dataset(
    node: Any, cohorts: None, query: dict[str, Any], expected: dict[str, int]
) -> None:
    body = await individuals(
        node,
        referenceName="1",
        **query,
        requestedGranularity="count",
        includeResultsetResponses="ALL",
    )
    assert body["meta"]["returnedGranularity"] == "count"
    assert counts(body) == expected
    assert body["responseSummary"] == {
        "exists": sum(expected.values()) > 0,
        "numTotalResults": sum(expected.values()),
    }
    for result_set in body["response"]["resultSets"]:
        assert result_set["results"] == []
        assert result_set["exists"] is (result_set["resultsCount"] > 0)


async def test_dataset_ids_narrow_individuals(node: Any, cohorts: None) -> None:
    body = await individuals(
        node,
        referenceName="1",
        start=0,
        end=1000,
        requestedGranularity="count",
        datasetIds="second",
    )
    assert counts(body) == {"second": 2}
    assert body["responseSummary"]["numTotalResults"] == 2


async def test_record_is_capped_to_count(node: Any, cohorts: None) -> None:
    body = await individuals(
        node, referenceName="1", start=99, end=110, requestedGranularity="record"
    )
    assert body["meta"]["returnedGranularity"] == "count"
    assert body["meta"]["receivedRequestSummary"]["requestedGranularity"] == "record"
    assert counts(body) == {"cohort": 3, "second": 2}
    assert [s["results"] for s in body["response"]["resultSets"]] == [[], []]


async def test_boolean_individuals(node: Any, cohorts: None) -> None:
    found = await individuals(node, referenceName="1", start=99, end=110)
    assert found["responseSummary"] == {"exists": True}
    assert "response" not in found
    nobody = await individuals(node, referenceName="1", start=299, end=300)
    assert nobody["responseSummary"] == {"exists": False}


async def test_post_individuals(node: Any, cohorts: None) -> None:
    response = await node.post(
        "/individuals",
        json={
            "meta": {},
            "query": {
                "requestParameters": {
                    "g_variant": {"referenceName": "1", "start": [99], "end": [110]}
                },
                "requestedGranularity": "count",
            },
        },
    )
    body = await response.json()
    assert response.status == 200, body
    assert_valid_answer(body)
    assert counts(body) == {"cohort": 3, "second": 2}


async def test_sites_only_dataset_reports_no_carriers(
    node: Any, ingest: Any, tmp_path: Path
) -> None:
    await ingest(write_vcf(tmp_path / "cohort.vcf", COHORT), "cohort")
    await ingest(write_vcf(tmp_path / "sites.vcf", SITES_ONLY, samples=[]), "sites")
    body = await individuals(
        node,
        referenceName="1",
        start=99,
        end=100,
        requestedGranularity="count",
        includeResultsetResponses="ALL",
    )
    sets = {s["id"]: s for s in body["response"]["resultSets"]}
    assert (sets["sites"]["exists"], sets["sites"]["resultsCount"]) == (False, 0)
    assert sets["sites"]["info"]["note"] == "no genotypes: carriers unknown"
    assert (sets["cohort"]["exists"], sets["cohort"]["resultsCount"]) == (True, 2)
    assert "note" not in sets["cohort"]["info"]
    assert body["responseSummary"] == {"exists": True, "numTotalResults": 2}
    # The allele itself is there: g_variants finds it with INFO counts.
    response = await node.get(
        "/g_variants",
        params={
            "referenceName": "1",
            "start": "99",
            "end": "100",
            "requestedGranularity": "record",
            "datasetIds": "sites",
        },
    )
    variants = await response.json()
    [record] = variants["response"]["resultSets"][0]["results"]
    [frequency] = record["frequencyInPopulations"][0]["frequencies"]
    assert (frequency["alleleCount"], frequency["alleleNumber"]) == (5, 100)
    assert "alleleCountHeterozygous" not in frequency
    assert record["variantLevelData"]["info"]["countsFrom"] == "INFO"


async def test_test_mode_counts_nobody(node: Any, cohorts: None) -> None:
    body = await individuals(
        node,
        referenceName="1",
        start=0,
        end=1000,
        requestedGranularity="count",
        testMode="true",
        includeResultsetResponses="ALL",
    )
    assert body["meta"]["testMode"] is True
    assert counts(body) == {"cohort": 0, "second": 0}
    assert {s["info"]["note"] for s in body["response"]["resultSets"]} == {
        "testMode: no data was searched"
    }


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        # 1:15274 A>G,T: 2 of 2504 samples are 0|0; G has 1650 carriers, T 2405.
        pytest.param(15273, 15274, 2502, id="common-multiallelic"),
        # 1:66381 TATATA>AATATA,T: 55 carry the SNV, 29 the deletion, 2 (2|1) carry both.
        pytest.param(66380, 66381, 55, id="snv-alt-only"),
        pytest.param(66380, 66382, 82, id="both-alts-union"),
    ],
)
async def test_carriers_in_a_real_file(
    node: Any, ingest: Any, start: int, end: int, expected: int
) -> None:
    await ingest(CHR1, "chr1")
    body = await individuals(
        node, referenceName="1", start=start, end=end, requestedGranularity="count"
    )
    assert counts(body) == {"chr1": expected}


async def test_hit_lists_only_datasets_whose_count_is_shown_positive(
    node: Any, ingest: Any, tmp_path: Path
) -> None:
    """The sites-only dataset has the allele but no countable carriers: not a HIT here."""
    await ingest(write_vcf(tmp_path / "cohort.vcf", COHORT), "cohort")
    await ingest(write_vcf(tmp_path / "sites.vcf", SITES_ONLY, samples=[]), "sites")
    query = {"referenceName": "1", "start": 99, "end": 100, "requestedGranularity": "count"}
    hit = await individuals(node, **query, includeResultsetResponses="HIT")
    miss = await individuals(node, **query, includeResultsetResponses="MISS")
    assert [s["id"] for s in hit["response"]["resultSets"]] == ["cohort"]
    assert [s["id"] for s in miss["response"]["resultSets"]] == ["sites"]
