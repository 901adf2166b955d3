"""/g_variants and /g_variants/{id}: every query kind, granularity and request form, with
expectations computed by hand from tiny VCFs (and from bcftools for the real files)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CHR1, MT, write_vcf
from tests.official_schemas import assert_valid_answer

# 0-based alleles after normalisation, and their counts from GT (s1..s4):
#   1_99_A_G     SNP  [99,100)   AC 3 AN 6 (s4 ./.)  het 1 (s1) hom 1 (s2)
#   1_200_CGT_-  DEL  [200,203)  AC 2 AN 8           het 2 (s1, s2)
#   1_200_CG_-   DEL  [200,202)  AC 3 AN 8           het 1 (s2) hom 1 (s3)
#   1_299_C_T    SNP  [299,300)  AC 2 AN 7 (s1 haploid) het 1 (s2) hemi 1 (s1)
#   1_400_-_TT   INS  [400,400)  AC 1 AN 8           het 1 (s3)
TINY = [
    "1 100 rs1;rs1b A G . PASS . GT 0/1 1/1 0/0 ./.",
    "1 200 . ACGT A,AT . PASS . GT 0/1 1/2 2/2 0/0",
    "1 300 . C T . PASS . GT 1 0/1 0/0 0/0",
    "1 400 . G GTT . PASS . GT 0/0 0/0 0/1 0/0",
]
TINY_IDS = ["1_99_A_G", "1_200_CG_-", "1_200_CGT_-", "1_299_C_T", "1_400_-_TT"]

# Structural variants: <DEL> covers [1000, 2000) (short), <DUP> covers [3000, 10000) (long).
SYMBOLIC = [
    "1 1000 . A <DEL> . PASS SVTYPE=DEL;END=2000 GT 0/1 0/0 0/0 0/0",
    "1 3000 . C <DUP> . PASS SVTYPE=DUP;END=10000 GT 0/0 1/1 0/0 0/0",
]

# A dataset with nothing at 1:100, for the miss side of two-dataset queries.
OTHER = ["1 500 . T C . PASS . GT 0/1 0/0 0/0 0/0"]

SNV_99 = {"referenceName": "1", "start": "99", "referenceBases": "A", "alternateBases": "G"}
SNV_99_POST = {**SNV_99, "start": [99]}


@pytest.fixture
async def tiny(ingest: Any, tmp_path: Path) -> Any:
    return await ingest(write_vcf(tmp_path / "tiny.vcf", TINY), "tiny")


@pytest.fixture
async def symbolic(ingest: Any, tmp_path: Path) -> Any:
    return await ingest(write_vcf(tmp_path / "sv.vcf", SYMBOLIC), "sv")


@pytest.fixture
async def hit_and_miss(ingest: Any, tmp_path: Path) -> None:
    await ingest(write_vcf(tmp_path / "tiny.vcf", TINY), "hit")
    await ingest(write_vcf(tmp_path / "other.vcf", OTHER), "miss")


async def get(node: Any, path: str = "/g_variants", **params: Any) -> dict[str, Any]:
    response = await node.get(path, params={k: str(v) for k, v in params.items()})
    body: dict[str, Any] = await response.json()
    assert response.status == 200, body
    assert_valid_answer(body)
    return body


async def post(
    node: Any, parameters: Any, *, meta: dict[str, Any] | None = None, **query: Any
) -> dict[str, Any]:
    """POST a Beacon request body: `parameters` as its requestParameters, `query` beside them."""
    body = {"meta": meta or {}, "query": {"requestParameters": parameters, **query}}
    response = await node.post("/g_variants", json=body)
    answer: dict[str, Any] = await response.json()
    assert response.status == 200, answer
    assert_valid_answer(answer)
    return answer


def ids(body: dict[str, Any]) -> list[str]:
    """variantInternalIds of the answer's only result set."""
    [found] = body["response"]["resultSets"]
    return [record["variantInternalId"] for record in found["results"]]


def all_records(**params: Any) -> dict[str, Any]:
    """Parameters asking for every record (up to 100) of a query."""
    return {"requestedGranularity": "record", "limit": 100, **params}


async def found(node: Any, **params: Any) -> list[str]:
    """Ids of every allele (up to 100) one chromosome 1 query finds in the only dataset."""
    body = await get(
        node, referenceName="1", **all_records(includeResultsetResponses="ALL", **params)
    )
    return ids(body)


def counts(body: dict[str, Any]) -> dict[str, int]:
    return {s["id"]: s["resultsCount"] for s in body["response"]["resultSets"]}


# --- granularity x method --------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("granularity", ["boolean", "count", "record"])
async def test_every_granularity_by_get_and_post(
    node: Any, tiny: Any, method: str, granularity: str
) -> None:
    if method == "GET":
        body = await get(node, **SNV_99, requestedGranularity=granularity)
    else:
        body = await post(
            node, SNV_99_POST, meta={"apiVersion": "v2.0"}, requestedGranularity=granularity
        )
    assert body["meta"]["returnedGranularity"] == granularity
    assert body["meta"]["receivedRequestSummary"]["requestedGranularity"] == granularity
    if granularity == "boolean":
        assert body["responseSummary"] == {"exists": True}
        assert "response" not in body
        return
    assert body["responseSummary"] == {"exists": True, "numTotalResults": 1}
    [result_set] = body["response"]["resultSets"]
    assert result_set["id"] == "tiny"
    assert result_set["exists"] is True
    assert result_set["resultsCount"] == 1
    expected = [] if granularity == "count" else ["1_99_A_G"]
    assert [r["variantInternalId"] for r in result_set["results"]] == expected


async def test_a_miss_is_exists_false_at_every_granularity(node: Any, tiny: Any) -> None:
    miss = {**SNV_99, "alternateBases": "T"}
    assert (await get(node, **miss))["responseSummary"] == {"exists": False}
    count = await get(node, **miss, requestedGranularity="count")
    assert count["responseSummary"] == {"exists": False, "numTotalResults": 0}
    assert count["response"]["resultSets"] == []
    record = await get(node, **miss, requestedGranularity="record", includeResultsetResponses="ALL")
    [result_set] = record["response"]["resultSets"]
    assert (result_set["exists"], result_set["resultsCount"], result_set["results"]) == (
        False,
        0,
        [],
    )


# --- POST request forms ----------------------------------------------------------------------

_VARIANT = {"referenceName": "1", "start": [199], "referenceBases": "ACGT", "alternateBases": "A"}


@pytest.mark.parametrize(
    "request_parameters",
    [
        pytest.param(_VARIANT, id="flat"),
        pytest.param({"g_variant": _VARIANT}, id="nested"),
        pytest.param([_VARIANT], id="list"),
    ],
)
async def test_post_request_parameter_forms_give_one_answer(
    node: Any, tiny: Any, request_parameters: Any
) -> None:
    flat = await post(node, _VARIANT, requestedGranularity="record")
    body = await post(node, request_parameters, requestedGranularity="record")
    assert body == flat
    assert ids(body) == ["1_200_CGT_-"]
    assert body["meta"]["receivedRequestSummary"]["requestParameters"] == {"g_variant": _VARIANT}


async def test_post_and_get_give_the_same_answer(node: Any, tiny: Any) -> None:
    by_get = await get(node, **SNV_99, requestedGranularity="record")
    by_post = await post(node, SNV_99_POST, requestedGranularity="record")
    assert by_post == by_get


async def test_post_whole_number_floats_are_integers(node: Any, tiny: Any) -> None:
    """JSON has one number type: 99.0 is the start 99, not a different allele id."""
    as_ints = await post(
        node,
        {"referenceName": "1", "start": [0], "end": [1000]},
        pagination={"skip": 1, "limit": 2},
        requestedGranularity="record",
    )
    as_floats = await post(
        node,
        {"referenceName": "1", "start": [0.0], "end": [1e3]},
        pagination={"skip": 1.0, "limit": 2.0},
        requestedGranularity="record",
    )
    assert as_floats == as_ints
    assert ids(as_ints) == TINY_IDS[1:3]
    exact = await post(node, {**SNV_99, "start": [99.0]})
    assert exact["responseSummary"] == {"exists": True}


async def test_requested_schemas_are_echoed(node: Any, tiny: Any) -> None:
    schemas = [{"entityType": "genomicVariation", "schema": "beacon-g_variant-v2.0.0"}]
    body = await post(node, SNV_99_POST, meta={"apiVersion": "v2.0.1", "requestedSchemas": schemas})
    summary = body["meta"]["receivedRequestSummary"]
    assert (summary["apiVersion"], summary["requestedSchemas"]) == ("v2.0.1", schemas)


# --- sequence queries ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "ref", "alt", "expected"),
    [
        pytest.param(199, "ACGT", "A", "1_200_CGT_-", id="vcf-padded-deletion"),
        pytest.param(200, "CGT", "", "1_200_CGT_-", id="trimmed-deletion"),
        pytest.param(199, "ACGT", "AT", "1_200_CG_-", id="vcf-padded-inner-deletion"),
        pytest.param(199, "ACG", "A", "1_200_CG_-", id="left-padded-deletion"),
        pytest.param(200, "CG", "", "1_200_CG_-", id="trimmed-inner-deletion"),
        pytest.param(399, "G", "GTT", "1_400_-_TT", id="vcf-padded-insertion"),
        pytest.param(400, "", "TT", "1_400_-_TT", id="trimmed-insertion"),
        pytest.param(99, "a", "g", "1_99_A_G", id="lower-case-snv"),
    ],
)
async def test_spellings_of_one_allele_find_it(
    node: Any, tiny: Any, start: int, ref: str, alt: str, expected: str
) -> None:
    body = await get(
        node,
        referenceName="1",
        start=start,
        referenceBases=ref,
        alternateBases=alt,
        requestedGranularity="record",
    )
    assert ids(body) == [expected]
    assert body["responseSummary"]["numTotalResults"] == 1


@pytest.mark.parametrize(
    ("start", "ref", "alt", "expected"),
    [
        pytest.param(99, "N", "G", ["1_99_A_G"], id="wildcard-ref"),
        pytest.param(99, "A", "N", ["1_99_A_G"], id="wildcard-alt"),
        pytest.param(99, "N", "N", ["1_99_A_G"], id="wildcard-both"),
        pytest.param(99, "A", "NN", [], id="wildcard-wrong-length"),
        pytest.param(199, "ACGT", "N", ["1_200_CGT_-"], id="wildcard-padded-deletion"),
        pytest.param(199, "NNNN", "NN", ["1_200_CG_-"], id="wildcard-inner-deletion"),
        pytest.param(199, "ANGT", "AT", ["1_200_CG_-"], id="wildcard-in-ref"),
        pytest.param(198, "N", "C", [], id="wildcard-nothing-there"),
    ],
)
async def test_n_is_a_wildcard(
    node: Any, tiny: Any, start: int, ref: str, alt: str, expected: list[str]
) -> None:
    assert await found(node, start=start, referenceBases=ref, alternateBases=alt) == expected


async def test_non_minimal_mt_allele_is_found_as_the_snv(node: Any, ingest: Any) -> None:
    """MT POS 55 `TATTTT>CATTTT` is T>C at 0-based 54: AC 3 of 2534 haploid calls (bcftools)."""
    summary = await ingest(MT, "mt")
    as_written = await get(
        node,
        referenceName="MT",
        start=54,
        referenceBases="TATTTT",
        alternateBases="CATTTT",
        requestedGranularity="record",
    )
    as_snv = await get(
        node,
        referenceName="chrM",
        start=54,
        referenceBases="T",
        alternateBases="C",
        requestedGranularity="record",
    )
    assert as_written["response"] == as_snv["response"]
    [record] = as_written["response"]["resultSets"][0]["results"]
    assert record["variantInternalId"] == "MT_54_T_C"
    variation = record["variation"]
    assert (variation["variantType"], variation["referenceBases"], variation["alternateBases"]) == (
        "SNP",
        "T",
        "C",
    )
    assert variation["location"]["sequence_id"] == "refseq:NC_012920.1"
    assert variation["location"]["interval"]["start"]["value"] == 54
    assert variation["location"]["interval"]["end"]["value"] == 55
    [population] = record["frequencyInPopulations"]
    assert population["version"] == summary.release
    assert population["frequencies"] == [
        {
            "population": "mt",
            "alleleFrequency": round(3 / 2534, 8),
            "alleleCount": 3,
            "alleleNumber": 2534,
            "alleleCountHomozygous": 0,
            "alleleCountHeterozygous": 0,
            "alleleCountHemizygous": 3,
        }
    ]


async def test_mt_deletion_spellings_meet(node: Any, ingest: Any) -> None:
    """MT POS 58 `TTT>T`: AC 4 (bcftools), stored trimmed as TT deleted at 0-based 57."""
    await ingest(MT, "mt")
    answers = []
    for ref, alt in (("TTT", "T"), ("TT", "")):
        body = await get(
            node,
            referenceName="MT",
            start=57,
            referenceBases=ref,
            alternateBases=alt,
            requestedGranularity="record",
        )
        answers.append(body["response"])
    assert answers[0] == answers[1]
    [record] = answers[0]["resultSets"][0]["results"]
    assert record["variantInternalId"] == "MT_57_TT_-"
    assert record["variation"]["variantType"] == "DEL"
    frequency = record["frequencyInPopulations"][0]["frequencies"][0]
    assert (frequency["alleleCount"], frequency["alleleNumber"]) == (4, 2534)


# --- range queries ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        pytest.param(99, 100, ["1_99_A_G"], id="exactly-one-base"),
        pytest.param(100, 200, [], id="half-open-on-both-sides"),
        pytest.param(98, 99, [], id="ends-where-snv-starts"),
        pytest.param(201, 202, ["1_200_CG_-", "1_200_CGT_-"], id="alleles-starting-before"),
        pytest.param(202, 250, ["1_200_CGT_-"], id="only-the-longer-deletion-reaches"),
        pytest.param(400, 401, ["1_400_-_TT"], id="insertion-at-its-point"),
        pytest.param(399, 400, [], id="before-insertion"),
        pytest.param(401, 500, [], id="after-insertion"),
        pytest.param(0, 1000, TINY_IDS, id="everything"),
    ],
)
async def test_range_overlap(
    node: Any, tiny: Any, start: int, end: int, expected: list[str]
) -> None:
    assert await found(node, start=start, end=end) == expected


@pytest.mark.parametrize(
    ("narrowing", "expected"),
    [
        pytest.param({"variantType": "SNP"}, ["1_99_A_G", "1_299_C_T"], id="snp"),
        pytest.param({"variantType": "SNV"}, ["1_99_A_G", "1_299_C_T"], id="snv-alias"),
        pytest.param({"variantType": "DEL"}, ["1_200_CG_-", "1_200_CGT_-"], id="del"),
        pytest.param({"variantType": "INS"}, ["1_400_-_TT"], id="ins"),
        pytest.param(
            {"variantType": "INDEL"}, ["1_200_CG_-", "1_200_CGT_-", "1_400_-_TT"], id="indel"
        ),
        pytest.param({"variantType": "MNP"}, [], id="mnp"),
        pytest.param({"alternateBases": "G"}, ["1_99_A_G"], id="alt"),
        pytest.param({"referenceBases": "C", "alternateBases": "T"}, ["1_299_C_T"], id="ref-alt"),
        pytest.param({"referenceBases": "A", "alternateBases": "T"}, [], id="ref-alt-miss"),
        pytest.param({"alternateBases": "N"}, ["1_99_A_G", "1_299_C_T"], id="alt-wildcard"),
        pytest.param({"alternateBases": "TT"}, ["1_400_-_TT"], id="inserted-bases"),
        pytest.param(
            {"variantMinLength": 2}, ["1_200_CG_-", "1_200_CGT_-", "1_400_-_TT"], id="min-2"
        ),
        pytest.param({"variantMinLength": 3}, ["1_200_CGT_-"], id="min-3"),
        pytest.param({"variantMaxLength": 1}, ["1_99_A_G", "1_299_C_T"], id="max-1"),
        pytest.param(
            {"variantMinLength": 2, "variantMaxLength": 2},
            ["1_200_CG_-", "1_400_-_TT"],
            id="exactly-2",
        ),
        pytest.param(
            {"variantType": "DEL", "variantMaxLength": 2}, ["1_200_CG_-"], id="type-and-length"
        ),
    ],
)
async def test_range_narrowing(
    node: Any, tiny: Any, narrowing: dict[str, Any], expected: list[str]
) -> None:
    assert await found(node, start=0, end=1000, **narrowing) == expected


async def test_range_on_a_real_file(node: Any, ingest: Any) -> None:
    """MT POS 55-60 hold 9 ALT alleles (bcftools); 4 of them are deletions after trimming."""
    await ingest(MT, "mt")
    everything = await get(node, referenceName="MT", start=54, end=60, **all_records())
    assert everything["responseSummary"]["numTotalResults"] == 9
    deletions = await get(
        node, referenceName="MT", start=54, end=60, **all_records(variantType="DEL")
    )
    assert ids(deletions) == ["MT_54_TAT_-", "MT_54_TATTT_-", "MT_55_A_-", "MT_57_TT_-"]


# --- bracket queries on symbolic alleles -----------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "extra", "expected"),
    [
        pytest.param("990,1010", "1990,2010", {}, ["1_1000_2000_DEL"], id="del"),
        pytest.param("1000,1001", "2000,2001", {}, ["1_1000_2000_DEL"], id="del-tight"),
        pytest.param("1001,1100", "1990,2010", {}, [], id="start-after"),
        pytest.param("900,1000", "1990,2010", {}, [], id="start-bound-is-exclusive"),
        pytest.param("990,1010", "1990,2000", {}, [], id="end-bound-is-exclusive"),
        pytest.param("990,1010", "2001,2100", {}, [], id="end-after"),
        pytest.param("2990,3010", "9990,10010", {}, ["1_3000_10000_DUP"], id="long-dup"),
        pytest.param("990,1010", "1990,2010", {"variantType": "DUP"}, [], id="del-not-a-dup"),
        pytest.param(
            "2990,3010",
            "9990,10010",
            {"variantType": "EFO:0030070"},
            ["1_3000_10000_DUP"],
            id="dup-by-efo",
        ),
        pytest.param(
            "990,1010", "1990,2010", {"variantType": "CNV"}, ["1_1000_2000_DEL"], id="cnv"
        ),
        pytest.param(
            "900,3100", "1900,10100", {}, ["1_1000_2000_DEL", "1_3000_10000_DUP"], id="both"
        ),
        pytest.param(
            "900,3100",
            "1900,10100",
            {"variantMinLength": 5000},
            ["1_3000_10000_DUP"],
            id="both-min-length",
        ),
    ],
)
async def test_bracket_queries(
    node: Any, symbolic: Any, start: str, end: str, extra: dict[str, Any], expected: list[str]
) -> None:
    assert await found(node, start=start, end=end, **extra) == expected


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        pytest.param(1500, 1501, ["1_1000_2000_DEL"], id="inside-short-sv"),
        pytest.param(1999, 2000, ["1_1000_2000_DEL"], id="last-base"),
        pytest.param(2000, 2001, [], id="after-end"),
        pytest.param(9000, 9001, ["1_3000_10000_DUP"], id="inside-long-sv"),
        pytest.param(0, 999, [], id="anchor-base-is-not-covered"),
    ],
)
async def test_range_finds_symbolic_alleles_covering_it(
    node: Any, symbolic: Any, start: int, end: int, expected: list[str]
) -> None:
    assert await found(node, start=start, end=end) == expected


async def test_symbolic_record(node: Any, symbolic: Any) -> None:
    body = await get(node, "/g_variants/1_1000_2000_DEL")
    [record] = body["response"]["resultSets"][0]["results"]
    assert record["variation"]["variantType"] == "DEL"
    assert record["variation"]["alternateBases"] == ""
    assert record["variation"]["location"]["interval"]["start"]["value"] == 1000
    assert record["variation"]["location"]["interval"]["end"]["value"] == 2000
    assert record["variantLevelData"]["info"]["symbolicAllele"] == "<DEL>"
    frequency = record["frequencyInPopulations"][0]["frequencies"][0]
    assert (frequency["alleleCount"], frequency["alleleNumber"]) == (1, 8)
    assert (frequency["alleleCountHeterozygous"], frequency["alleleCountHomozygous"]) == (1, 0)


# --- includeResultsetResponses ---------------------------------------------------------------


@pytest.mark.parametrize("granularity", ["count", "record"])
@pytest.mark.parametrize(
    ("include", "shown"),
    [("HIT", ["hit"]), ("MISS", ["miss"]), ("ALL", ["hit", "miss"]), ("NONE", [])],
)
async def test_include_resultset_responses(
    node: Any, hit_and_miss: None, include: str, shown: list[str], granularity: str
) -> None:
    body = await get(
        node, **SNV_99, requestedGranularity=granularity, includeResultsetResponses=include
    )
    assert body["responseSummary"] == {"exists": True, "numTotalResults": 1}
    assert body["meta"]["receivedRequestSummary"]["includeResultsetResponses"] == include
    sets = {s["id"]: s for s in body["response"]["resultSets"]}
    assert list(sets) == shown
    if "hit" in sets:
        assert (sets["hit"]["exists"], sets["hit"]["resultsCount"]) == (True, 1)
        expected = ["1_99_A_G"] if granularity == "record" else []
        assert [r["variantInternalId"] for r in sets["hit"]["results"]] == expected
    if "miss" in sets:
        assert (sets["miss"]["exists"], sets["miss"]["resultsCount"]) == (False, 0)
        assert sets["miss"]["results"] == []


# --- pagination ------------------------------------------------------------------------------


async def test_pagination_on_a_real_file(node: Any, ingest: Any) -> None:
    await ingest(MT, "mt")
    query = {"referenceName": "MT", "start": 0, "end": 100}
    everything = await get(node, **query, **all_records())
    all_ids = ids(everything)
    total = everything["responseSummary"]["numTotalResults"]
    # POS 1-100 hold 43 ALT alleles (bcftools norm -m-); trimming merges or moves none of them.
    assert total == len(all_ids) == len(set(all_ids)) == 43
    default = await get(node, **query, requestedGranularity="record")
    assert ids(default) == all_ids[:10]
    assert default["meta"]["receivedRequestSummary"]["pagination"] == {"skip": 0, "limit": 10}
    page = await get(node, **query, requestedGranularity="record", skip=5, limit=3)
    assert ids(page) == all_ids[5:8]
    assert counts(page) == {"mt": total}
    assert page["responseSummary"]["numTotalResults"] == total
    assert page["meta"]["receivedRequestSummary"]["pagination"] == {"skip": 5, "limit": 3}
    beyond = await get(node, **query, requestedGranularity="record", skip=total, limit=3)
    assert ids(beyond) == []
    assert counts(beyond) == {"mt": total}
    by_post = await post(
        node,
        {"referenceName": "MT", "start": [0], "end": [100]},
        pagination={"skip": total - 2, "limit": 5},
        requestedGranularity="record",
    )
    assert ids(by_post) == all_ids[-2:]


# --- datasets and assemblies -----------------------------------------------------------------


@pytest.fixture
async def three_datasets(ingest: Any, tmp_path: Path) -> None:
    path = write_vcf(tmp_path / "tiny.vcf", TINY)
    for dataset in ("a", "b", "c"):
        await ingest(path, dataset)


async def test_dataset_ids_by_get(node: Any, three_datasets: None) -> None:
    every = await get(node, **SNV_99, requestedGranularity="count")
    assert counts(every) == {"a": 1, "b": 1, "c": 1}
    assert every["responseSummary"]["numTotalResults"] == 3
    some = await get(node, **SNV_99, requestedGranularity="count", datasetIds="a,c")
    assert counts(some) == {"a": 1, "c": 1}
    assert some["responseSummary"]["numTotalResults"] == 2
    assert some["meta"]["receivedRequestSummary"]["requestParameters"]["g_variant"][
        "datasetIds"
    ] == ["a", "c"]


async def test_dataset_ids_by_post(node: Any, three_datasets: None) -> None:
    body = await post(
        node, {**SNV_99_POST, "datasets": {"datasetIds": ["b"]}}, requestedGranularity="count"
    )
    assert counts(body) == {"b": 1}
    assert body["responseSummary"]["numTotalResults"] == 1


@pytest.fixture
async def two_assemblies(ingest: Any, tmp_path: Path) -> None:
    path = write_vcf(tmp_path / "tiny.vcf", TINY)
    await ingest(path, "g37", assembly="GRCh37")
    await ingest(path, "g38", assembly="GRCh38")


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param({}, {"g37": 1, "g38": 1}, id="no-assembly"),
        pytest.param({"assemblyId": "GRCh37"}, {"g37": 1}, id="grch37"),
        pytest.param({"assemblyId": "hg19"}, {"g37": 1}, id="hg19"),
        pytest.param({"assemblyId": "GRCh38.p14"}, {"g38": 1}, id="grch38-patch"),
        pytest.param({"referenceName": "NC_000001.10"}, {"g37": 1}, id="grch37-accession"),
        pytest.param({"referenceName": "refseq:NC_000001.11"}, {"g38": 1}, id="grch38-accession"),
        pytest.param(
            {"assemblyId": "GRCh37", "datasetIds": "g38"}, {}, id="dataset-of-other-assembly"
        ),
    ],
)
async def test_assembly_selects_datasets(
    node: Any, two_assemblies: None, params: dict[str, Any], expected: dict[str, int]
) -> None:
    body = await get(
        node,
        **{**SNV_99, **params},
        requestedGranularity="count",
        includeResultsetResponses="ALL",
    )
    assert counts(body) == expected
    assert body["responseSummary"]["exists"] is bool(expected)


async def test_record_names_the_dataset_assembly(node: Any, two_assemblies: None) -> None:
    body = await get(node, **SNV_99, requestedGranularity="record")
    locations = {
        s["id"]: s["results"][0]["variation"]["location"]["sequence_id"]
        for s in body["response"]["resultSets"]
    }
    assert locations == {"g37": "refseq:NC_000001.10", "g38": "refseq:NC_000001.11"}
    assert {s["id"]: s["info"]["assemblyId"] for s in body["response"]["resultSets"]} == {
        "g37": "GRCh37",
        "g38": "GRCh38",
    }


# --- testMode --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_test_mode_searches_no_data(node: Any, tiny: Any, method: str) -> None:
    if method == "GET":
        body = await get(
            node,
            **SNV_99,
            requestedGranularity="record",
            includeResultsetResponses="ALL",
            testMode="true",
        )
    else:
        body = await post(
            node,
            SNV_99_POST,
            requestedGranularity="record",
            includeResultsetResponses="ALL",
            testMode=True,
        )
    assert body["meta"]["testMode"] is True
    assert body["meta"]["receivedRequestSummary"]["testMode"] is True
    assert body["responseSummary"] == {"exists": False, "numTotalResults": 0}
    [result_set] = body["response"]["resultSets"]
    assert result_set["id"] == "tiny"
    assert (result_set["exists"], result_set["resultsCount"], result_set["results"]) == (
        False,
        0,
        [],
    )
    assert result_set["info"]["note"] == "testMode: no data was searched"
    normal = await get(node, **SNV_99, testMode="false")
    assert normal["meta"]["testMode"] is False
    assert normal["responseSummary"] == {"exists": True}


# --- /g_variants/{id} ------------------------------------------------------------------------


async def test_variant_by_id(node: Any, hit_and_miss: None) -> None:
    body = await get(node, "/g_variants/1_200_CGT_-")
    assert body["meta"]["returnedGranularity"] == "record"
    assert body["responseSummary"] == {"exists": True, "numTotalResults": 1}
    assert [s["id"] for s in body["response"]["resultSets"]] == ["hit"]
    assert ids(body) == ["1_200_CGT_-"]
    by_query = await get(
        node,
        referenceName="1",
        start=199,
        referenceBases="ACGT",
        alternateBases="A",
        requestedGranularity="record",
    )
    assert body["response"] == by_query["response"]


async def test_variant_by_id_options(node: Any, hit_and_miss: None) -> None:
    every = await get(node, "/g_variants/1_99_A_G", includeResultsetResponses="ALL")
    assert counts(every) == {"hit": 1, "miss": 0}
    only_miss = await get(node, "/g_variants/1_99_A_G", datasetIds="miss")
    assert only_miss["responseSummary"] == {"exists": False, "numTotalResults": 0}
    assert only_miss["response"]["resultSets"] == []
    boolean = await get(node, "/g_variants/1_99_A_G", requestedGranularity="boolean")
    assert boolean["responseSummary"] == {"exists": True}
    test_mode = await get(node, "/g_variants/1_99_A_G", testMode="true")
    assert test_mode["meta"]["testMode"] is True
    assert test_mode["responseSummary"] == {"exists": False, "numTotalResults": 0}


async def test_unknown_variant_id_is_a_miss(node: Any, tiny: Any) -> None:
    body = await get(node, "/g_variants/1_98_A_G")
    assert body["responseSummary"] == {"exists": False, "numTotalResults": 0}
    assert body["response"]["resultSets"] == []


# --- frequencies -----------------------------------------------------------------------------


def _frequency(ac: int, an: int, hom: int, het: int, hemi: int) -> dict[str, Any]:
    return {
        "population": "tiny",
        "alleleFrequency": round(ac / an, 8),
        "alleleCount": ac,
        "alleleNumber": an,
        "alleleCountHomozygous": hom,
        "alleleCountHeterozygous": het,
        "alleleCountHemizygous": hemi,
    }


async def test_frequencies_are_counted_from_genotypes(node: Any, tiny: Any) -> None:
    body = await get(node, referenceName="1", start=0, end=1000, **all_records())
    [result_set] = body["response"]["resultSets"]
    found = {r["variantInternalId"]: r for r in result_set["results"]}
    assert list(found) == TINY_IDS
    expected = {
        "1_99_A_G": _frequency(ac=3, an=6, hom=1, het=1, hemi=0),
        "1_200_CG_-": _frequency(ac=3, an=8, hom=1, het=1, hemi=0),
        "1_200_CGT_-": _frequency(ac=2, an=8, hom=0, het=2, hemi=0),
        "1_299_C_T": _frequency(ac=2, an=7, hom=0, het=1, hemi=1),
        "1_400_-_TT": _frequency(ac=1, an=8, hom=0, het=1, hemi=0),
    }
    for key, frequency in expected.items():
        [population] = found[key]["frequencyInPopulations"]
        assert population["sourceReference"] == "tiny"
        assert population["version"] == tiny.release
        assert population["frequencies"] == [frequency], key
    assert found["1_99_A_G"]["identifiers"] == {
        "variantAlternativeIds": [{"id": "rs1"}, {"id": "rs1b"}]
    }
    assert "identifiers" not in found["1_299_C_T"]
    assert {r["variantLevelData"]["info"]["countsFrom"] for r in found.values()} == {"genotypes"}


async def test_frequencies_of_a_real_multiallelic_site(node: Any, ingest: Any) -> None:
    """1:66381 TATATA>AATATA,T (bcftools on the genotypes): the SNV ALT has 30 0|1, 23 1|0 and
    2 2|1; the deletion 9 0|2, 17 2|0, 2 2|1 and 1 2|2. AN is 5008."""
    await ingest(CHR1, "chr1")
    body = await get(node, referenceName="1", start=66380, end=66382, **all_records())
    found = {r["variantInternalId"]: r for r in body["response"]["resultSets"][0]["results"]}
    assert list(found) == ["1_66380_T_A", "1_66381_ATATA_-"]
    snv = found["1_66380_T_A"]["frequencyInPopulations"][0]["frequencies"][0]
    deletion = found["1_66381_ATATA_-"]["frequencyInPopulations"][0]["frequencies"][0]
    assert (snv["alleleCount"], snv["alleleNumber"]) == (55, 5008)
    assert (snv["alleleCountHeterozygous"], snv["alleleCountHomozygous"]) == (55, 0)
    assert (deletion["alleleCount"], deletion["alleleNumber"]) == (30, 5008)
    assert (deletion["alleleCountHeterozygous"], deletion["alleleCountHomozygous"]) == (28, 1)
    assert found["1_66380_T_A"]["identifiers"] == {
        "variantAlternativeIds": [{"id": "rs538833530"}, {"id": "rs545426917"}]
    }


async def test_a_long_allele_fits_in_a_get_url(ingest, node, tmp_path):
    """A 9 kb deletion spelled out in a GET (a URL far over aiohttp's default 8 KiB line)."""
    deleted = "ACGT" * 2250
    vcf = write_vcf(tmp_path / "long.vcf", [f"1 100 . G{deleted} G . PASS . GT 0/1 0/0 0/0 0/0"])
    await ingest(vcf, "long")
    response = await node.get(
        "/g_variants",
        params={
            "referenceName": "1",
            "start": "99",
            "referenceBases": "G" + deleted,
            "alternateBases": "G",
            "requestedGranularity": "count",
        },
    )
    assert response.status == 200
    body = await response.json()
    assert body["responseSummary"] == {"exists": True, "numTotalResults": 1}
