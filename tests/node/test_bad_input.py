"""Bad requests get the right 4xx and a Beacon error body that says what to fix, never a stack
trace; none of them touches stored data."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from beacon.config import Settings
from tests.conftest import write_vcf
from tests.official_schemas import assert_valid

ROWS = ["1 100 rs1 A G . PASS . GT 0/1 1/1 0/0 0/0"]
GOOD = {
    "referenceName": "1",
    "start": "99",
    "referenceBases": "A",
    "alternateBases": "G",
    "requestedGranularity": "record",
}
RANGE = {"referenceName": "1", "start": "0", "end": "1000"}

# Names a client should never see: they mean an exception leaked into the answer.
_LEAKS = re.compile(
    r"Traceback|File \"|\b[A-Z][A-Za-z]*(?:Error|Exception|Exit)\b|HTTP[A-Z][A-Za-z]+|"
    r"InvalidRequest|NotFound|jsonschema|aiohttp|pymongo"
)


def _post(query: dict[str, Any] | None = None, **top: Any) -> bytes:
    return json.dumps({"meta": {}, "query": query or {}} | top).encode()


def _variant(**extra: Any) -> dict[str, Any]:
    return {
        "requestParameters": {
            "referenceName": "1",
            "start": [99],
            "referenceBases": "A",
            "alternateBases": "G",
            **extra,
        }
    }


@dataclass(frozen=True)
class Bad:
    """One bad request and what the answer must say."""

    id: str
    status: int
    message: str
    method: str = "GET"
    path: str = "/g_variants"
    params: dict[str, str] | list[tuple[str, str]] = field(default_factory=dict)
    body: bytes | None = None
    content_type: str = "application/json"


BAD = [
    Bad("bad-json", 400, "not valid JSON", "POST", body=b'{"meta": {}, "query": '),
    Bad("non-utf8-body", 400, "not valid JSON", "POST", body=b"\xff\xfe{}"),
    Bad(
        "nested-too-deeply",
        400,
        "nested too deeply",
        "POST",
        body=b'{"meta": {"requestedSchemas": ' + b"[" * 5000 + b"]" * 5000 + b"}}",
    ),
    Bad(
        "requested-schemas-not-objects",
        400,
        "requestedSchemas must be a list of",
        "POST",
        body=_post(_variant(), meta={"requestedSchemas": ["beacon-g_variant-v2.0.0"]}),
    ),
    Bad(
        "requested-schemas-smuggled-in-request-parameters",
        400,
        "requestedSchemas must be a list of",
        "POST",
        body=_post(_variant(requestedSchemas=[[1]])),
    ),
    Bad("json-array", 400, "must be a JSON object", "POST", body=b"[]"),
    Bad("json-string", 400, "must be a JSON object", "POST", body=b'"hello"'),
    Bad("query-not-object", 400, "query must be a JSON object", "POST", body=b'{"query": []}'),
    Bad("start-not-a-number", 400, "start must be a whole number", params={**GOOD, "start": "abc"}),
    Bad(
        "start-string-in-post",
        400,
        "start/0: '99' is not of type 'integer'",
        "POST",
        body=_post(_variant(start=["99"])),
    ),
    Bad(
        "start-string-scalar-in-post",
        400,
        "start/0: '99' is not of type 'integer'",
        "POST",
        body=_post(_variant(start="99")),
    ),
    Bad(
        "limit-negative",
        400,
        "limit: -1 is less than the minimum of 0",
        params={**GOOD, "limit": "-1"},
    ),
    Bad(
        "limit-negative-in-post",
        400,
        "limit: -1 is less than the minimum of 0",
        "POST",
        body=_post({**_variant(), "pagination": {"limit": -1}}),
    ),
    Bad(
        "limit-too-big",
        400,
        "limit: 5000 is greater than the maximum of 1000",
        params={**GOOD, "limit": "5000"},
    ),
    Bad(
        "start-negative",
        400,
        "start/0: -5 is less than the minimum of 0",
        params={**GOOD, "start": "-5"},
    ),
    Bad(
        "end-equal-start",
        400,
        "end (100) must be greater than start (100)",
        params={**RANGE, "start": "100", "end": "100"},
    ),
    Bad(
        "end-before-start",
        400,
        "end (50) must be greater than start (100)",
        params={**RANGE, "start": "100", "end": "50"},
    ),
    Bad(
        "reversed-bracket-start",
        400,
        "bracket bounds must be increasing",
        params={"referenceName": "1", "start": "200,100", "end": "300,400"},
    ),
    Bad(
        "reversed-bracket-end",
        400,
        "bracket bounds must be increasing",
        params={"referenceName": "1", "start": "100,200", "end": "400,300"},
    ),
    Bad(
        "bracket-end-before-start",
        400,
        "bracket end range lies before its start range",
        params={"referenceName": "1", "start": "500,600", "end": "100,200"},
    ),
    Bad("three-starts", 400, "start: [1, 2, 3] is too long", params={**RANGE, "start": "1,2,3"}),
    Bad("end-without-start", 400, "give start alone", params={"referenceName": "1", "end": "100"}),
    Bad(
        "no-reference-name", 400, "referenceName is required", params={"start": "99", "end": "100"}
    ),
    Bad(
        "sequence-without-bases",
        400,
        "needs referenceBases and alternateBases",
        params={"referenceName": "1", "start": "99"},
    ),
    Bad(
        "same-bases",
        400,
        "referenceBases and alternateBases are equal",
        params={**GOOD, "alternateBases": "A"},
    ),
    Bad("unknown-assembly", 400, "unknown assembly 'hg17'", params={**GOOD, "assemblyId": "hg17"}),
    Bad(
        "assembly-disagrees-with-accession",
        400,
        "referenceName is a GRCh37 accession but assemblyId is GRCh38",
        params={**GOOD, "referenceName": "NC_000001.10", "assemblyId": "GRCh38"},
    ),
    Bad(
        "unknown-chromosome",
        400,
        "unknown chromosome 'chr99'",
        params={**GOOD, "referenceName": "chr99"},
    ),
    Bad(
        "alt-contig",
        400,
        "unknown chromosome 'GL000192.1'",
        params={**GOOD, "referenceName": "GL000192.1"},
    ),
    Bad(
        "non-dna-ref",
        400,
        "referenceBases: 'AXG' has characters that are not allowed",
        params={**GOOD, "referenceBases": "AXG"},
    ),
    Bad(
        "non-dna-alt",
        400,
        "alternateBases: '<DEL>' has characters that are not allowed",
        params={**GOOD, "alternateBases": "<DEL>"},
    ),
    Bad(
        "huge-body",
        413,
        "larger than this beacon accepts",
        "POST",
        body=_post(_variant(), padding="x" * Settings().max_body_bytes),
    ),
    Bad(
        "unknown-get-parameter",
        400,
        "unknown parameter(s) colour",
        params={**GOOD, "colour": "blue"},
    ),
    Bad(
        "unknown-request-parameter",
        400,
        "unknown parameter(s) colour",
        "POST",
        body=_post(_variant(colour="blue")),
    ),
    Bad(
        "unknown-query-field",
        400,
        "unknown field(s) colour",
        "POST",
        body=_post({**_variant(), "colour": 1}),
    ),
    Bad(
        "unknown-top-level-field",
        400,
        "unknown top-level field(s) colour",
        "POST",
        body=_post(_variant(), colour=1),
    ),
    Bad(
        "repeated-get-parameter",
        400,
        "parameter start is given 2 times",
        params=[*GOOD.items(), ("start", "100")],
    ),
    Bad("gene-id", 400, "geneId queries are not supported", params={"geneId": "BRCA1"}),
    Bad(
        "gene-id-in-post",
        400,
        "geneId queries are not supported",
        "POST",
        body=_post({"requestParameters": {"geneId": "BRCA1"}}),
    ),
    Bad("filters-get", 400, "filters", params={**GOOD, "filters": "HP:0001250"}),
    Bad(
        "filters-post",
        400,
        "filters",
        "POST",
        body=_post({**_variant(), "filters": [{"id": "HP:0001250"}]}),
    ),
    Bad(
        "unknown-dataset",
        400,
        "unknown dataset id(s): nosuch",
        params={**GOOD, "datasetIds": "tiny,nosuch"},
    ),
    Bad(
        "empty-dataset-list",
        400,
        "datasetIds: [] should be non-empty",
        params={**GOOD, "datasetIds": ","},
    ),
    Bad(
        "unknown-dataset-in-post",
        400,
        "unknown dataset id(s): nosuch",
        "POST",
        body=_post(_variant(datasets={"datasetIds": ["nosuch"]})),
    ),
    Bad(
        "datasets-not-an-object",
        400,
        'requestParameters.datasets must be {"datasetIds": [...]}',
        "POST",
        body=_post(_variant(datasets=["tiny"])),
    ),
    Bad(
        "two-variants-in-a-list",
        400,
        "must hold exactly one variant object",
        "POST",
        body=_post({"requestParameters": [RANGE, RANGE]}),
    ),
    Bad(
        "bad-granularity",
        400,
        "requestedGranularity: 'all' is not one of",
        params={**GOOD, "requestedGranularity": "all"},
    ),
    Bad(
        "bad-include",
        400,
        "includeResultsetResponses: 'SOME' is not one of",
        params={**GOOD, "includeResultsetResponses": "SOME"},
    ),
    Bad("bad-test-mode", 400, "testMode must be true or false", params={**GOOD, "testMode": "yes"}),
    Bad(
        "unknown-variant-type",
        400,
        "unknown variantType 'SPLICE'",
        params={**RANGE, "variantType": "SPLICE"},
    ),
    Bad(
        "min-length-over-max",
        400,
        "variantMinLength is greater than variantMaxLength",
        params={**RANGE, "variantMinLength": "5", "variantMaxLength": "2"},
    ),
    Bad(
        "text-plain",
        415,
        "send the request body as application/json, not text/plain",
        "POST",
        body=_post(_variant()),
        content_type="text/plain",
    ),
    Bad(
        "form-encoded",
        415,
        "not application/x-www-form-urlencoded",
        "POST",
        body=b"referenceName=1&start=99",
        content_type="application/x-www-form-urlencoded",
    ),
    Bad("put", 405, "method not allowed", "PUT", body=_post(_variant())),
    Bad("delete-info", 405, "method not allowed", "DELETE", path="/info"),
    Bad("post-datasets", 405, "method not allowed", "POST", path="/datasets", body=b"{}"),
    Bad("unknown-path", 404, "no such endpoint", path="/g_variant"),
    Bad("unknown-nested-path", 404, "no such endpoint", path="/g_variants/1_99_A_G/extra"),
    Bad(
        "range-too-wide",
        400,
        "range of 5000001 bases is wider than this beacon's limit of 5000000",
        params={**RANGE, "start": "0", "end": "5000001"},
    ),
    Bad(
        "bracket-too-wide",
        400,
        "bracket spans more than this beacon's limit of 5000000 bases",
        params={"referenceName": "1", "start": "0,10", "end": "5000000,5000001"},
    ),
    Bad("malformed-variant-id", 400, "malformed variant id", path="/g_variants/1_99_A%3BG"),
    Bad("overlong-variant-id", 400, "malformed variant id", path="/g_variants/" + "A" * 201),
    Bad(
        "variant-id-with-query-parameters",
        400,
        "a single-variant request takes only",
        path="/g_variants/1_99_A_G",
        params={"referenceName": "1"},
    ),
]


@pytest.fixture
async def stored(ingest: Any, tmp_path: Path) -> None:
    await ingest(write_vcf(tmp_path / "tiny.vcf", ROWS), "tiny")


async def _send(node: Any, bad: Bad) -> tuple[int, str, str]:
    headers = {"Content-Type": bad.content_type} if bad.body is not None else {}
    response = await node.request(
        bad.method, bad.path, params=bad.params, data=bad.body, headers=headers
    )
    return response.status, response.content_type, await response.text()


def _check(bad: Bad, status: int, content_type: str, text: str) -> None:
    assert status == bad.status, text
    assert content_type == "application/json"
    assert not _LEAKS.search(text), text
    body = json.loads(text)
    assert_valid("error", body)
    assert body["error"]["errorCode"] == bad.status
    assert bad.message in body["error"]["errorMessage"]


async def _snapshot(node: Any) -> tuple[Any, Any]:
    """A good answer and the dataset catalog, to compare before and after."""
    answer = await node.get("/g_variants", params=GOOD)
    catalog = await node.get("/datasets")
    return await answer.json(), await catalog.json()


@pytest.mark.parametrize("bad", BAD, ids=[b.id for b in BAD])
async def test_bad_input_is_a_helpful_beacon_error(node: Any, stored: None, bad: Bad) -> None:
    _check(bad, *(await _send(node, bad)))


async def test_bad_inputs_leave_stored_data_untouched(node: Any, stored: None) -> None:
    before = await _snapshot(node)
    assert before[0]["responseSummary"] == {"exists": True, "numTotalResults": 1}
    for bad in BAD:
        _check(bad, *(await _send(node, bad)))
    assert await _snapshot(node) == before


async def test_method_not_allowed_names_the_allowed_methods(node: Any) -> None:
    response = await node.delete("/g_variants")
    assert response.status == 405
    assert set(response.headers["Allow"].split(",")) >= {"GET", "POST"}
