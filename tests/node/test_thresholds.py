"""k-thresholds at a node over real HTTP: no count in 1..k-1 is shown below CONTROLLED access,
per dataset (`resultsCount`) or in `numTotalResults`, for /g_variants (matching alleles in a range)
and /individuals (carriers of one allele).

Three datasets a, b and ctl hold, per case of TRUE, that many alleles in the case's range and that
many carriers of the case's own allele. Also: the differencing attacks (across datasets, and a range
minus a range inside it), boolean answers, records without `[access]`, the exemption of a caller's
CONTROLLED datasets, and `[privacy] k` in the config file."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from beacon.auth import AccessPolicy, Tier
from beacon.config import Settings, load_settings
from beacon.errors import ConfigError
from beacon.node.app import create_node_app
from beacon.privacy import Protection
from beacon.results import Granularity
from beacon.tokens import AccessConfig, Issuer, VisaIssuer
from tests.auth_support import (
    AUDIENCE,
    DATASET,
    GRANTING,
    IDP_A,
    OTHER_DATASET,
    VISAS,
    KeySetServer,
    access_token,
    bearer,
    bona_fide_visas,
    grant,
)
from tests.conftest import Ingest, write_vcf
from tests.official_schemas import assert_valid_answer

Client = TestClient[Any, Any]
Shown = tuple[int, bool]
"""A count as a response shows it: (value, adjusted by the threshold)."""

SAMPLES = [f"s{i}" for i in range(1, 9)]
DATASETS = ("a", "b", "ctl")
ENDPOINTS = ("/g_variants", "/individuals")

# Per case, in (a, b, ctl): matching alleles in the case's range, and carriers of its allele.
TRUE: dict[str, tuple[int, int, int]] = {
    "a0": (0, 3, 5),
    "a1": (1, 0, 2),
    "a4": (4, 6, 0),
    "a5": (5, 1, 4),
    "a6": (6, 5, 1),
    "a2b2": (2, 2, 2),
    "a2b7": (2, 7, 3),
    "none": (0, 0, 0),
}


def _start(case: str) -> int:
    """The 0-based start of a case's range [start, start + 100); its allele is at start + 5000."""
    return 10_000 * (1 + list(TRUE).index(case))


def _gt(carriers: range | int) -> str:
    """Genotypes of s1..s8: 0/1 for the carriers (an int n: the first n), 0/0 for the rest."""
    chosen = range(carriers) if isinstance(carriers, int) else carriers
    return "GT " + " ".join("0/1" if i in chosen else "0/0" for i in range(len(SAMPLES)))


def _alleles(pos: int, n: int) -> list[str]:
    """n SNVs carried by s1, 10 bases apart from 1-based `pos`; none: one allele nobody carries."""
    if n == 0:
        return [f"1 {pos} . A G . PASS . {_gt(0)}"]
    return [f"1 {pos + 10 * j} . A G . PASS . {_gt(1)}" for j in range(n)]


# Nested ranges, in dataset a only: (size of A, size of B). For /g_variants A is that many alleles
# in [start, start + 100) and B that many in [start + 100, start + 200); for /individuals A and B
# are two alleles at start + 300 and start + 310, carried by that many people, none by both.
NESTED: dict[str, tuple[int, int]] = {
    "0+2": (0, 2),
    "1+1": (1, 1),
    "4+2": (4, 2),
    "5+0": (5, 0),
    "5+2": (5, 2),
    "6+1": (6, 1),
}


def _nested_start(case: str) -> int:
    return 500_000 + 1000 * list(NESTED).index(case)


def _nested_rows(case: str) -> list[str]:
    start, (a, b) = _nested_start(case), NESTED[case]
    return [
        *_alleles(start + 1, a),
        *_alleles(start + 101, b),
        f"1 {start + 301} . C T . PASS . {_gt(a)}",
        f"1 {start + 311} . C T . PASS . {_gt(range(a, a + b))}",
    ]


def _rows(dataset: str) -> list[str]:
    column = DATASETS.index(dataset)
    rows = []
    for case, counts in TRUE.items():
        rows += _alleles(_start(case) + 1, counts[column])
        rows.append(f"1 {_start(case) + 5001} . C T . PASS . {_gt(counts[column])}")
    if dataset == "a":
        rows += [row for case in NESTED for row in _nested_rows(case)]
    return rows


def _query(endpoint: str, case: str) -> dict[str, str]:
    """The case's range (/g_variants) or its allele (/individuals)."""
    start = _start(case)
    if endpoint == "/g_variants":
        return {"referenceName": "1", "start": str(start), "end": str(start + 100)}
    return {
        "referenceName": "1",
        "start": str(start + 5000),
        "referenceBases": "C",
        "alternateBases": "T",
    }


def _nested_query(endpoint: str, case: str, outer: bool) -> dict[str, str]:
    """The range covering A, or A and B (`outer`)."""
    start = _nested_start(case)
    if endpoint == "/g_variants":
        end = start + (200 if outer else 100)
    else:
        start, end = start + 300, start + (315 if outer else 305)
    return {"referenceName": "1", "start": str(start), "end": str(end), "datasetIds": "a"}


def _true(case: str, dataset: str) -> int:
    return TRUE[case][DATASETS.index(dataset)]


# What a response must show, worked by hand (the tables) or by this model (the sweeps).


def hidden(value: int) -> Shown:
    return (value, True)


def exact(value: int) -> Shown:
    return (value, False)


def model(count: int, k: int) -> Shown:
    return hidden(k) if 0 < count < k else exact(count)


def model_total(parts: list[Shown], k: int) -> Shown:
    value, adjusted = model(sum(v for v, _ in parts), k)
    return (value, adjusted or any(a for _, a in parts))


def _count(section: dict[str, Any], key: str) -> Shown:
    """`key`'s value, and whether the section says it was thresholded: countAdjustedTo
    ["threshold"] with countPrecision "imprecise", or neither field."""
    adjusted = "countAdjustedTo" in section
    if adjusted:
        assert section["countAdjustedTo"] == ["threshold"], section
        assert section["countPrecision"] == "imprecise", section
    else:
        assert "countPrecision" not in section, section
    return section[key], adjusted


def counts(body: dict[str, Any]) -> tuple[dict[str, Shown], Shown]:
    """Per dataset, and in total, the counts an answer at count or record granularity shows."""
    sets = body["response"]["resultSets"]
    for result_set in sets:
        assert result_set["exists"] is (result_set["resultsCount"] > 0), result_set
    shown = {s["id"]: _count(s, "resultsCount") for s in sets}
    return shown, _count(body["responseSummary"], "numTotalResults")


async def answer(
    client: Client, path: str, authorization: str | None = None, **params: str
) -> dict[str, Any]:
    """A 200 answer, valid against the official schemas."""
    headers = {} if authorization is None else {"Authorization": authorization}
    response = await client.get(path, params=params, headers=headers)
    body: dict[str, Any] = await response.json()
    assert response.status == 200, body
    assert_valid_answer(body)
    return body


async def counted(client: Client, path: str, **params: str) -> tuple[dict[str, Shown], Shown]:
    body = await answer(
        client, path, requestedGranularity="count", includeResultsetResponses="ALL", **params
    )
    assert body["meta"]["returnedGranularity"] == "count"
    return counts(body)


NodeFactory = Callable[..., Awaitable[Client]]


@pytest.fixture
async def start_node(
    settings: Settings, ingest: Ingest, tmp_path: Path
) -> AsyncIterator[NodeFactory]:
    """`await start_node(k, **settings)`: a node over real HTTP holding a, b and ctl."""
    for dataset in DATASETS:
        path = write_vcf(tmp_path / f"{dataset}.vcf", _rows(dataset), SAMPLES)
        await ingest(path, dataset)
    clients: list[Client] = []

    async def start(k: int, **changes: Any) -> Client:
        app = create_node_app(replace(settings, k=k, **changes))
        client: Client = TestClient(TestServer(app, host="127.0.0.1"))
        clients.append(client)
        await client.start_server()
        return client

    yield start
    for client in reversed(clients):
        await client.close()


# One dataset (a): a range holding 0, 1, 4, 5 or 6 matching alleles; an allele of 0, 1, 4, 5 or
# 6 carriers. With one dataset the total is that dataset's count.
SINGLE: dict[int, dict[str, Shown]] = {
    1: {"a0": exact(0), "a1": exact(1), "a4": exact(4), "a5": exact(5), "a6": exact(6)},
    2: {"a0": exact(0), "a1": hidden(2), "a4": exact(4), "a5": exact(5), "a6": exact(6)},
    5: {"a0": exact(0), "a1": hidden(5), "a4": hidden(5), "a5": exact(5), "a6": exact(6)},
    10: {"a0": exact(0), "a1": hidden(10), "a4": hidden(10), "a5": hidden(10), "a6": hidden(10)},
}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("k", list(SINGLE))
async def test_one_dataset(endpoint: str, k: int, start_node: NodeFactory) -> None:
    node = await start_node(k)
    seen = {}
    for case in SINGLE[k]:
        body = await answer(
            node,
            endpoint,
            **_query(endpoint, case),
            datasetIds="a",
            requestedGranularity="count",
            includeResultsetResponses="ALL",
        )
        assert body["responseSummary"]["exists"] is (_true(case, "a") > 0)
        sets, total = counts(body)
        assert sets == {"a": total}
        seen[case] = total
    assert seen == SINGLE[k]


# Two datasets (a and b): each one's count, and the total, a sum of the shown counts.
PAIRS: list[tuple[int, str, dict[str, Shown], Shown]] = [
    (5, "a2b2", {"a": hidden(5), "b": hidden(5)}, hidden(10)),
    (5, "a2b7", {"a": hidden(5), "b": exact(7)}, hidden(12)),
    (5, "none", {"a": exact(0), "b": exact(0)}, exact(0)),
    (5, "a0", {"a": exact(0), "b": hidden(5)}, hidden(5)),
    (5, "a1", {"a": hidden(5), "b": exact(0)}, hidden(5)),
    (5, "a5", {"a": exact(5), "b": hidden(5)}, hidden(10)),
    (5, "a6", {"a": exact(6), "b": exact(5)}, exact(11)),
    (2, "a2b2", {"a": exact(2), "b": exact(2)}, exact(4)),
    (2, "a5", {"a": exact(5), "b": hidden(2)}, hidden(7)),
    (10, "a2b7", {"a": hidden(10), "b": hidden(10)}, hidden(20)),
    (10, "a6", {"a": hidden(10), "b": hidden(10)}, hidden(20)),
]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_two_datasets(endpoint: str, start_node: NodeFactory) -> None:
    nodes = {k: await start_node(k) for k in sorted({k for k, *_ in PAIRS})}
    for k, case, sets, total in PAIRS:
        found = await counted(nodes[k], endpoint, **_query(endpoint, case), datasetIds="a,b")
        assert found == (sets, total), (k, case)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("k", [2, 5, 10])
async def test_no_difference_across_datasets_reveals_a_hidden_count(
    endpoint: str, k: int, start_node: NodeFactory
) -> None:
    """For every case and every set of datasets: the total minus the exact parts, and the total
    minus the total without one dataset, never equal a hidden true count (1..k-1)."""
    node = await start_node(k)
    subsets = [s for n in (1, 2, 3) for s in itertools.combinations(DATASETS, n)]
    asked = [(case, subset) for case in TRUE for subset in subsets]
    answers = await asyncio.gather(
        *(
            counted(node, endpoint, **_query(endpoint, case), datasetIds=",".join(subset))
            for case, subset in asked
        )
    )
    found = dict(zip(asked, answers, strict=True))
    for (case, subset), (sets, total) in found.items():
        where = (case, subset)
        true = {d: _true(case, d) for d in subset}
        assert sets == {d: model(true[d], k) for d in subset}, where
        assert total == model_total(list(sets.values()), k), where
        exact_sum = sum(value for value, adjusted in sets.values() if not adjusted)
        for dataset, count in true.items():
            if 0 < count < k:
                assert total[0] - exact_sum != count, where
                fewer = tuple(d for d in subset if d != dataset)
                if fewer:
                    assert total[0] - found[(case, fewer)][1][0] != count, (where, dataset)


LEAKING = [c for c in NESTED if NESTED[c][0] >= 5 and NESTED[c][1]]
"""Where the inner range alone reaches k, the difference of two exact counts shows the rest."""


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("case", [c for c in NESTED if c not in LEAKING])
async def test_a_range_minus_a_range_inside_it_never_reveals_a_hidden_count(
    endpoint: str, case: str, start_node: NodeFactory
) -> None:
    """count(A and B) - count(A) is never B's true count when that is in 1..k-1 (k = 5): for
    /g_variants the alleles in B, for /individuals the people carrying B and not A."""
    node = await start_node(5)
    inner = await counted(node, endpoint, **_nested_query(endpoint, case, outer=False))
    outer = await counted(node, endpoint, **_nested_query(endpoint, case, outer=True))
    a, b = NESTED[case]
    assert inner[0] == {"a": model(a, 5)}
    assert outer[0] == {"a": model(a + b, 5)}
    if 0 < b < 5:
        revealed = f"count(A and B) - count(A) is B's true count {b}"
        assert outer[0]["a"][0] - inner[0]["a"][0] != b, revealed
        assert outer[1][0] - inner[1][0] != b, revealed


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("case", LEAKING)
async def test_without_noise_a_range_minus_a_range_inside_it_shows_a_hidden_count(
    endpoint: str, case: str, start_node: NodeFactory
) -> None:
    """Why counts below CONTROLLED need noise: a threshold judges each answer alone, so where A
    alone reaches k two exact counts give B's true count away (a node without `[access]`)."""
    node = await start_node(5)
    inner = await counted(node, endpoint, **_nested_query(endpoint, case, outer=False))
    outer = await counted(node, endpoint, **_nested_query(endpoint, case, outer=True))
    a, b = NESTED[case]
    assert (inner[0], outer[0]) == ({"a": exact(a)}, {"a": exact(a + b)})
    assert outer[1][0] - inner[1][0] == b


def _noisy_count(body: dict[str, Any]) -> int:
    """numTotalResults of a count answer with keyed noise (and maybe the threshold)."""
    assert body["meta"]["returnedGranularity"] == "count", body
    summary = body["responseSummary"]
    assert "noise" in summary["countAdjustedTo"], summary
    assert summary["countPrecision"] == "imprecise"
    [result_set] = body["response"]["resultSets"]
    assert result_set["resultsCount"] == summary["numTotalResults"] >= 5
    return int(summary["numTotalResults"])


def _asker(
    node: Client, authorization: str, endpoint: str, case: str
) -> Callable[..., Awaitable[dict[str, Any]]]:
    """`await ask(outer, **changes)`: the case's inner or outer range at count granularity."""

    async def ask(outer: bool, **changes: str) -> dict[str, Any]:
        params = {**_nested_query(endpoint, case, outer), **changes}
        return await answer(node, endpoint, authorization, **params, requestedGranularity="count")

    return ask


KEYS = 16


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("case", LEAKING)
async def test_with_noise_a_range_minus_a_range_inside_it_rarely_reveals_a_hidden_count(
    endpoint: str,
    case: str,
    start_node: NodeFactory,
    key_server: KeySetServer,
    mongo: Any,
    db_name: str,
) -> None:
    """The same attack by a REGISTERED caller against the defences of `[access]` (keyed noise,
    count budget, k = 5). These alleles are in no reference population, so by default they get
    no count at all (count_min_frequency); with that off, noise and the budget alone: under each
    of KEYS noise keys of our own the difference is B's true count in at most 3/4 of them (two
    independent noises are equal about 1 time in 5), not in all of them as without noise; asked
    again or respelled each count is the same (nothing to average); and the count budget ends
    the attacker's counts."""
    jku = f"{key_server.base}/visas.json"
    access = AccessConfig(
        AUDIENCE, (Issuer(IDP_A, f"{key_server.base}/a.json"),), (VisaIssuer(VISAS, jku, GRANTING),)
    )
    policy = AccessPolicy(enforced=True)
    guarded = await start_node(5, access=access, policy=policy, protection=Protection())
    token = access_token(sub="mallory", ga4gh_passport_v1=bona_fide_visas(jku))
    refused = await _asker(guarded, f"Bearer {token}", endpoint, case)(True)
    assert refused["meta"]["returnedGranularity"] == "boolean"
    assert refused["info"]["tooRareToCount"]["datasets"] == ["a"]
    guard = Protection(rate_per_minute=0, count_budget=2, count_min_frequency=0.0)
    b = NESTED[case][1]
    revealed = []
    for seed in range(KEYS):
        secret = hashlib.sha256(f"noise-key-{seed}".encode()).digest()
        await mongo[db_name]["privacy_state"].replace_one(
            {"_id": "noise_key"}, {"value": secret}, upsert=True
        )
        node = await start_node(5, access=access, policy=policy, protection=guard)
        token = access_token(sub=f"mallory-{seed}", ga4gh_passport_v1=bona_fide_visas(jku))
        ask = _asker(node, f"Bearer {token}", endpoint, case)
        inner = _noisy_count(await ask(False))
        outer = _noisy_count(await ask(True))
        assert _noisy_count(await ask(False, referenceName="chr1")) == inner
        assert _noisy_count(await ask(True)) == outer
        widened = await ask(True, end=str(int(_nested_query(endpoint, case, True)["end"]) + 1))
        assert widened["meta"]["returnedGranularity"] == "boolean"
        assert widened["info"]["countBudget"]["datasets"] == ["a"]
        revealed.append(outer - inner == b)
        await node.close()
    # Releases are random, so the noise is too: 13 or more of 16 has a chance below 1e-6.
    assert sum(revealed) <= 3 * KEYS // 4, f"{sum(revealed)} of {KEYS} differences were {b}"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_boolean_answers_do_not_change(endpoint: str, start_node: NodeFactory) -> None:
    """At boolean granularity a node with k = 5 answers exactly as one with k = 1; at count,
    `exists` is the same too."""
    raw, thresholded = await start_node(1), await start_node(5)
    for case in TRUE:
        query = _query(endpoint, case)
        booleans = [await answer(node, endpoint, **query) for node in (raw, thresholded)]
        assert booleans[0] == booleans[1]
        assert booleans[1]["responseSummary"] == {"exists": any(TRUE[case])}
        assert "response" not in booleans[1]
        ask = {**query, "requestedGranularity": "count", "includeResultsetResponses": "ALL"}
        answers = [await answer(node, endpoint, **ask) for node in (raw, thresholded)]
        assert [
            (a["responseSummary"]["exists"], [s["exists"] for s in a["response"]["resultSets"]])
            for a in answers
        ] == [(any(TRUE[case]), [n > 0 for n in TRUE[case]])] * 2


async def test_without_access_records_are_unchanged_so_they_show_what_a_hidden_count_hides(
    start_node: NodeFactory,
) -> None:
    """Without `[access]` every caller gets records: each record is listed as with k = 1, and
    only `resultsCount`/`numTotalResults` are thresholded, so len(results) is the true count."""
    raw, thresholded = await start_node(1), await start_node(5)
    for case in TRUE:
        ask = {**_query("/g_variants", case), "requestedGranularity": "record"}
        bodies = [await answer(node, "/g_variants", **ask) for node in (raw, thresholded)]
        assert bodies[1]["meta"]["returnedGranularity"] == "record"
        records = [
            {s["id"]: s["results"] for s in body["response"]["resultSets"]} for body in bodies
        ]
        assert records[0] == records[1], case
        true = {d: _true(case, d) for d in DATASETS if _true(case, d)}
        assert {d: len(r) for d, r in records[1].items()} == true
        sets, total = counts(bodies[1])
        assert sets == {d: model(n, 5) for d, n in true.items()}
        assert total == model_total(list(sets.values()), 5)
    # One allele by id: one record listed per dataset, its count shown as 5.
    allele = f"1_{_start('a1')}_A_G"
    body = await answer(thresholded, f"/g_variants/{allele}")
    assert [(s["id"], len(s["results"])) for s in body["response"]["resultSets"]] == [
        ("a", 1),
        ("ctl", 1),
    ]
    assert counts(body) == ({"a": hidden(5), "ctl": hidden(5)}, hidden(10))


# A CONTROLLED caller: ctl needs REGISTERED, or a grant for DATASET (which makes its holder
# CONTROLLED for ctl); every tier gets counts, so one answer can mix exempt and thresholded ones.
POLICY = AccessPolicy(
    enforced=True,
    levels={"a": Tier.PUBLIC, "b": Tier.REGISTERED, "ctl": Tier.REGISTERED},
    grants={"ctl": DATASET},
    granularity={
        Tier.PUBLIC: Granularity.COUNT,
        Tier.REGISTERED: Granularity.COUNT,
        Tier.CONTROLLED: Granularity.RECORD,
    },
)


# Per caller: its Authorization header given the visa issuer's jku, the datasets it sees, and
# those it is CONTROLLED for.
CALLERS: dict[str, tuple[Callable[[str], str | None], tuple[str, ...], frozenset[str]]] = {
    "anonymous": (lambda jku: None, ("a",), frozenset()),
    "signed-in": (lambda jku: bearer(), ("a",), frozenset()),
    "bona-fide": (lambda jku: bearer(*bona_fide_visas(jku)), DATASETS, frozenset()),
    "granted": (lambda jku: bearer(grant(DATASET, jku)), ("a", "ctl"), frozenset({"ctl"})),
    "granted-other": (lambda jku: bearer(grant(OTHER_DATASET, jku)), ("a",), frozenset()),
    "bona-fide-granted": (
        lambda jku: bearer(*bona_fide_visas(jku), grant(DATASET, jku)),
        DATASETS,
        frozenset({"ctl"}),
    ),
}

# By hand, k = 5: (caller, case, datasetIds or "", per dataset, total). A total of exempt
# counts alone is exact: every other part is 0 or at least k already.
CONTROLLED: list[tuple[str, str, str, dict[str, Shown], Shown]] = [
    ("anonymous", "a2b7", "", {"a": hidden(5)}, hidden(5)),
    ("bona-fide", "a2b7", "", {"a": hidden(5), "b": exact(7), "ctl": hidden(5)}, hidden(17)),
    ("granted", "a2b7", "", {"a": hidden(5), "ctl": exact(3)}, hidden(8)),
    ("granted", "a6", "", {"a": exact(6), "ctl": exact(1)}, exact(7)),
    ("granted", "a4", "", {"a": hidden(5), "ctl": exact(0)}, hidden(5)),
    ("granted", "a2b7", "ctl", {"ctl": exact(3)}, exact(3)),
    ("granted", "a0", "ctl", {"ctl": exact(5)}, exact(5)),
    ("granted-other", "a2b7", "", {"a": hidden(5)}, hidden(5)),
    (
        "bona-fide-granted",
        "a2b7",
        "",
        {"a": hidden(5), "b": exact(7), "ctl": exact(3)},
        hidden(15),
    ),
]


async def _tiered(start_node: NodeFactory, key_server: KeySetServer) -> tuple[Client, str]:
    """A node with `[access]` (IDP_A, VISAS) and POLICY, and its visa issuer's jku."""
    jku = f"{key_server.base}/visas.json"
    access = AccessConfig(
        AUDIENCE, (Issuer(IDP_A, f"{key_server.base}/a.json"),), (VisaIssuer(VISAS, jku, GRANTING),)
    )
    return await start_node(5, access=access, policy=POLICY), jku


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_controlled_datasets_are_exempt(
    endpoint: str, start_node: NodeFactory, key_server: KeySetServer
) -> None:
    """A caller granted ctl gets its exact counts; every other count, and any caller without
    that grant, is thresholded."""
    node, jku = await _tiered(start_node, key_server)

    async def ask(caller: str, case: str, named: str) -> tuple[dict[str, Shown], Shown]:
        params = _query(endpoint, case) | ({"datasetIds": named} if named else {})
        body = await answer(
            node,
            endpoint,
            CALLERS[caller][0](jku),
            **params,
            requestedGranularity="count",
            includeResultsetResponses="ALL",
        )
        assert body["meta"]["returnedGranularity"] == "count"
        return counts(body)

    for caller, case, named, sets, total in CONTROLLED:
        assert await ask(caller, case, named) == (sets, total), (caller, case, named)
    for caller, (_, sees, exempt) in CALLERS.items():
        for case in TRUE:
            sets, total = await ask(caller, case, "")
            expected = {
                d: exact(_true(case, d)) if d in exempt else model(_true(case, d), 5) for d in sees
            }
            assert sets == expected, (caller, case)
            assert total == model_total(list(expected.values()), 5), (caller, case)


async def test_without_access_a_grant_exempts_nothing(start_node: NodeFactory) -> None:
    """Without `[access]` tokens are not read: a grant for ctl gets thresholded counts."""
    node = await start_node(5)
    authorization = bearer(grant(DATASET, "https://visas.example/jwks"))
    for endpoint in ENDPOINTS:
        body = await answer(
            node,
            endpoint,
            authorization,
            **_query(endpoint, "a2b7"),
            requestedGranularity="count",
        )
        assert counts(body) == (
            {"a": hidden(5), "b": exact(7), "ctl": hidden(5)},
            hidden(17),
        )


# `[privacy] k` in the config file

K_FILES = [
    ("", 5),
    ("[privacy]\n", 5),
    ("[privacy]\nk = 3\n", 3),
    ("[privacy]\nk = 1\n", 1),
    ("[privacy]\nk = 1000\n", 1000),
]


@pytest.mark.parametrize(("text", "k"), K_FILES)
def test_k_in_the_config_file(text: str, k: int, tmp_path: Path) -> None:
    path = tmp_path / "beacon.toml"
    path.write_text(text)
    assert load_settings({}, path).k == k
    assert load_settings({}).k == 5


def test_a_whole_number_written_as_a_float_is_an_int(tmp_path: Path) -> None:
    """`k = 5.0` passes the schema (JSON Schema counts 5.0 as an integer); as a float it would be
    answered as `"resultsCount": 5.0`."""
    path = tmp_path / "beacon.toml"
    path.write_text("[privacy]\nk = 5.0\n")
    k = load_settings({}, path).k
    assert (k, type(k)) == (5, int)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("k = 0", "privacy/k: 0 is less than the minimum of 1"),
        ("k = -5", "privacy/k: -5 is less than the minimum of 1"),
        ("k = 1001", "privacy/k: 1001 is greater than the maximum of 1000"),
        ('k = "5"', "privacy/k: '5' is not of type 'integer'"),
        ("k = 2.5", "privacy/k: 2.5 is not of type 'integer'"),
        ("k = true", "privacy/k: True is not of type 'integer'"),
        ("threshold = 5", "privacy: unknown parameter(s) threshold"),
    ],
)
def test_bad_k_is_a_config_problem(text: str, problem: str, tmp_path: Path) -> None:
    path = tmp_path / "beacon.toml"
    path.write_text(f"[privacy]\n{text}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings({}, path)
    assert caught.value.problems == [f"{path}: {problem}"]
