"""Long alleles (spanning > LONG_VARIANT bases) live outside the start window of range scans."""

from beacon.query import QueryKind, parse_query
from beacon.store.mongo import query_filters
from tests.conftest import write_vcf

ROWS = [
    "1 1000 sv1 A <DEL> . PASS SVTYPE=DEL;END=60000 GT 0/1 0/0 0/0 0/0",
    "1 5000 . C T . PASS . GT 0/1 0/1 0/0 0/0",
]


async def test_range_in_the_middle_of_a_long_deletion_finds_it(
    ingest, node, tmp_path, mongo, db_name
):
    await ingest(write_vcf(tmp_path / "sv.vcf", ROWS), "sv")
    catalog = await mongo[db_name]["datasets"].find_one({"_id": "sv"})
    assert catalog["long_alleles"] == 1
    response = await node.get(
        "/g_variants",
        params={
            "referenceName": "1",
            "start": "30000",
            "end": "30010",
            "requestedGranularity": "record",
        },
    )
    body = await response.json()
    ids = [r["variantInternalId"] for r in body["response"]["resultSets"][0]["results"]]
    assert ids == ["1_1000_60000_DEL"]


async def test_release_without_long_alleles_records_zero(ingest, tmp_path, mongo, db_name):
    await ingest(write_vcf(tmp_path / "snv.vcf", ROWS[1:]), "snv")
    catalog = await mongo[db_name]["datasets"].find_one({"_id": "snv"})
    assert catalog["long_alleles"] == 0


def test_filters_drop_the_long_scan_only_when_there_are_no_long_alleles():
    query = parse_query({"referenceName": "1", "start": [100], "end": [200]}, max_span=10**6)
    assert query.kind is QueryKind.RANGE
    assert [f["long"] for f in query_filters(query, True)] == [False, True]
    assert [f["long"] for f in query_filters(query, False)] == [False]
