from tests.conftest import MT
from tests.official_schemas import assert_valid_answer


async def test_ingest_and_query(ingest, node):
    await ingest(MT, "mt")
    response = await node.get(
        "/g_variants",
        params={
            "referenceName": "MT",
            "start": "54",
            "referenceBases": "TATTTT",
            "alternateBases": "CATTTT",
            "requestedGranularity": "record",
        },
    )
    body = await response.json()
    assert response.status == 200
    assert_valid_answer(body)
    assert body["response"]["resultSets"][0]["results"][0]["variantInternalId"] == "MT_54_T_C"
