"""The membership defences of a node with `[access]` (../shared/PRIVACY.md), over real HTTP on a
real database, tokens minted here:

- PUBLIC: the reference-frequency gate (answer only where (1-f)^(2N) <= e by a reference
  population loaded with `load_reference`), else "not answerable";
- REGISTERED: the per-(user, individual) risk budget with answer history; keyed count noise and a
  per-user count budget per dataset release;
- CONTROLLED: exact;
- and the differencing attacks a threshold alone lets through, run against all of it.

Noise is keyed by the database's secret (`privacy_state`) and the dataset's release (random at
each ingest): tests that look at noisy values put their own secret there before the node starts
and compare what the node says with `noise_key`/`noisy` for the release it reports."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import math
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pymongo.asynchronous.database import AsyncDatabase

from beacon.auth import AccessPolicy, Tier
from beacon.config import Settings, load_settings
from beacon.ingest.progress import Progress
from beacon.ingest.reference import load_reference
from beacon.node.app import create_node_app
from beacon.node.protect import TOO_RARE_TO_COUNT
from beacon.privacy import (
    Protection,
    f_min,
    noise_key,
    noisy,
    risk_cost,
    threshold,
    weight,
)
from beacon.query import parse_query
from beacon.results import Granularity
from beacon.tokens import AccessConfig, Issuer, VisaIssuer, pseudonym
from tests.auth_support import (
    AUDIENCE,
    GRANTING,
    IDP_A,
    VISAS,
    KeySetServer,
    access_token,
    bona_fide_visas,
    grant,
)
from tests.conftest import Ingest, write_vcf
from tests.official_schemas import assert_valid_answer

Client = TestClient[Any, Any]
Db = AsyncDatabase[dict[str, Any]]
Params = dict[str, str]
Answer = dict[str, Any]

K = 5
GATE_ERROR = 1e-3
EPSILON = Protection().count_epsilon
GRANT_URL = "https://datasets.example/"
LEDGER, STATE = "privacy_ledger", "privacy_state"


def seeded(seed: int) -> bytes:
    """A noise key of our own, in place of the random one a node makes."""
    return hashlib.sha256(f"noise-key-{seed}".encode()).digest()


SECRET = seeded(0)


def protection(**changes: Any) -> Protection:
    """The defaults of `[privacy]`, without the rate limit (tests ask fast)."""
    return replace(Protection(rate_per_minute=0), **changes)


# Callers


@dataclass(frozen=True)
class Caller:
    """Anonymous (no subject), signed in, bona fide (REGISTERED) and/or granted datasets."""

    subject: str | None = None
    bona_fide: bool = False
    granted: tuple[str, ...] = ()

    @property
    def pseudonym(self) -> str:
        assert self.subject is not None
        return pseudonym(IDP_A, self.subject)


ANONYMOUS = Caller()
SIGNED_IN = Caller("sam")  # signed in, no visas: PUBLIC
ALICE, BOB, CAROL, DAVE = (Caller(name, True) for name in ("alice", "bob", "carol", "dave"))


@cache
def _authorization(caller: Caller, jku: str) -> str:
    """A token for the caller, valid for five minutes (longer than one test runs; each test has
    a key server, and a jku, of its own)."""
    visas = [*(bona_fide_visas(jku) if caller.bona_fide else ())]
    visas += [grant(GRANT_URL + dataset, jku) for dataset in caller.granted]
    return f"Bearer {access_token(sub=caller.subject, ga4gh_passport_v1=visas)}"


POLICY = AccessPolicy(
    enforced=True,
    grants={d: GRANT_URL + d for d in ("big", "small", "c", "d", "a", "h", "r1", "r2")},
)
"""Every dataset PUBLIC (anyone may ask), each grantable; tiers by caller."""


def _post_body(params: Params) -> dict[str, Any]:
    """The POST form of GET parameters."""
    query: dict[str, Any] = {}
    parameters: dict[str, Any] = {}
    for name, value in params.items():
        if name in ("requestedGranularity", "includeResultsetResponses"):
            query[name] = value
        elif name in ("start", "end"):
            parameters[name] = [int(v) for v in value.split(",")]
        elif name == "datasetIds":
            parameters[name] = value.split(",")
        else:
            parameters[name] = value
    return {"meta": {}, "query": {"requestParameters": parameters, **query}}


@dataclass
class Node:
    client: Client
    jku: str

    async def ask(self, caller: Caller, path: str = "/g_variants", **params: str) -> Answer:
        """GET: a 200 answer, valid against the official schemas."""
        return await self.send(caller, params, path=path)

    async def post(self, caller: Caller, path: str = "/g_variants", **params: str) -> Answer:
        """The same, as a POST body."""
        return await self.send(caller, params, path=path, post=True)

    async def send(
        self, caller: Caller, params: Params, *, path: str = "/g_variants", post: bool = False
    ) -> Answer:
        headers = {}
        if caller.subject is not None:
            headers["Authorization"] = _authorization(caller, self.jku)
        if post:
            response = await self.client.post(path, json=_post_body(params), headers=headers)
        else:
            response = await self.client.get(path, params=params, headers=headers)
        body: Answer = await response.json()
        assert response.status == 200, body
        assert_valid_answer(body)
        return body


@dataclass
class Harness:
    """Datasets and references in this test's database, and nodes over it."""

    db: Db
    settings: Settings
    jku: str
    tmp: Path
    ingest: Ingest
    clients: list[Client] = field(default_factory=list)
    files: Iterator[int] = field(default_factory=itertools.count)

    async def start(
        self,
        guard: Protection,
        *,
        secret: bytes | None = SECRET,
        policy: AccessPolicy | None = POLICY,
        **changes: Any,
    ) -> Node:
        """A node with `[access]` (unless `policy` is None) and `[privacy]` = `guard`; `secret`
        replaces the database's noise key first (None: keep whatever is there)."""
        if secret is not None:
            await self.db[STATE].replace_one({"_id": "noise_key"}, {"value": secret}, upsert=True)
        if policy is None:
            changes.update(access=None, policy=AccessPolicy())
        else:
            changes.update(policy=policy)
        app = create_node_app(replace(self.settings, protection=guard, **changes))
        client: Client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        self.clients.append(client)
        return Node(client, self.jku)

    async def stop(self, node: Node) -> None:
        await node.client.close()

    async def cohort(
        self, dataset: str, rows: list[str], samples: int, assembly: str = "GRCh37"
    ) -> str:
        """Ingest `rows` (see `row`) as `dataset`; its release."""
        names = [f"s{i}" for i in range(1, samples + 1)]
        path = write_vcf(self.tmp / f"{dataset}-{next(self.files)}.vcf", rows, names)
        return (await self.ingest(path, dataset, assembly)).release

    async def reference(
        self, frequencies: Mapping[int, float | str], assembly: str = "GRCh37"
    ) -> None:
        """Load A>G at each 1-based position of chromosome 1 with its frequency (a float: as
        INFO/AF; a string: the INFO field as it is)."""
        info = {pos: f if isinstance(f, str) else f"AF={f!r}" for pos, f in frequencies.items()}
        rows = [f"1\t{pos}\t.\tA\tG\t.\tPASS\t{i}\n" for pos, i in info.items()]
        path = self.tmp / f"reference-{assembly}-{next(self.files)}.vcf"
        path.write_text(REFERENCE_HEADER + "".join(rows))
        await load_reference(
            self.db, path, assembly=assembly, progress=Progress(None), swap_grace=0.0
        )

    async def account(self, caller: Caller, dataset: str) -> dict[str, Any] | None:
        """The ledger document of one user for the current release of `dataset`."""
        entry = await self.db["datasets"].find_one({"_id": dataset})
        assert entry is not None
        key = f"{caller.pseudonym}|{dataset}|{entry['release']}"
        return await self.db[LEDGER].find_one({"_id": key})

    async def release(self, dataset: str) -> str:
        entry = await self.db["datasets"].find_one({"_id": dataset})
        assert entry is not None
        return str(entry["release"])


REFERENCE_HEADER = (
    "##fileformat=VCFv4.2\n##contig=<ID=1,length=249250621>\n"
    '##INFO=<ID=AF,Number=A,Type=Float,Description="Allele frequency">\n'
    '##INFO=<ID=AC,Number=A,Type=Integer,Description="Allele count">\n'
    '##INFO=<ID=AN,Number=1,Type=Integer,Description="Allele number">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
)


@pytest.fixture
async def harness(
    settings: Settings,
    mongo: Any,
    db_name: str,
    tmp_path: Path,
    ingest: Ingest,
    key_server: KeySetServer,
) -> AsyncIterator[Harness]:
    jku = f"{key_server.base}/visas.json"
    access = AccessConfig(
        AUDIENCE, (Issuer(IDP_A, f"{key_server.base}/a.json"),), (VisaIssuer(VISAS, jku, GRANTING),)
    )
    base = replace(settings, k=K, access=access)
    found = Harness(mongo[db_name], base, jku, tmp_path, ingest)
    yield found
    for client in reversed(found.clients):
        await client.close()


def row(pos: int, samples: int, carriers: Iterable[int]) -> str:
    """A>G at 1-based `pos` of chromosome 1: 0/1 for the carriers (0-based sample indexes), 0/0
    for the others."""
    chosen = set(carriers)
    calls = " ".join("0/1" if i in chosen else "0/0" for i in range(samples))
    return f"1 {pos} . A G . PASS . GT {calls}"


def snv(pos: int, **changes: str) -> Params:
    """A sequence query for A>G at 1-based `pos` of chromosome 1."""
    found = {
        "referenceName": "1",
        "start": str(pos - 1),
        "referenceBases": "A",
        "alternateBases": "G",
    }
    return {**found, **changes}


def span(start: int, end: int, **changes: str) -> Params:
    """A range query over 0-based [start, end) of chromosome 1."""
    return {"referenceName": "1", "start": str(start), "end": str(end), **changes}


def withheld(body: dict[str, Any]) -> set[str]:
    """The datasets an answer says are not answerable at the caller's tier."""
    note = body.get("info", {}).get("notAnswerable")
    if note is None:
        return set()
    assert "not answerable at this tier" in note["message"]
    assert len(note["datasets"]) == len(set(note["datasets"]))
    return set(note["datasets"])


def counts(body: dict[str, Any]) -> tuple[dict[str, int], int]:
    """Per dataset resultsCount, and numTotalResults, of a count answer."""
    assert body["meta"]["returnedGranularity"] == "count", body
    sets = {s["id"]: s["resultsCount"] for s in body["response"]["resultSets"]}
    return sets, body["responseSummary"]["numTotalResults"]


def adjusted(section: dict[str, Any]) -> list[str]:
    """`countAdjustedTo` of a result set or summary, checked against `countPrecision`."""
    found = section.get("countAdjustedTo", [])
    assert section.get("countPrecision") == ("imprecise" if found else None), section
    return list(found)


# --- The PUBLIC gate ----------------------------------------------------------------------------

BIG, SMALL = 50, 4
BOUNDARY = 1 - GATE_ERROR ** (1 / (2 * BIG))
"""The true boundary of the gate for one allele in a dataset of BIG people: (1-f)^(2N) = e."""
F_MIN = f_min(BIG, GATE_ERROR)
"""ln(1/e)/(2N): its first-order form, a little above it."""


class Site(NamedTuple):
    """A>G at a 1-based position of chromosome 1: its reference frequency (None: not in the
    reference) and its carriers in big (50 people) and in small (4 people)."""

    pos: int
    af: float | None
    big: tuple[int, ...] = ()
    small: tuple[int, ...] = ()


SITES = {
    "rare": Site(1000, 0.001, (0,), (0,)),
    "common": Site(2000, 0.7, tuple(range(30)), (0, 1, 2)),
    "mid": Site(2500, 0.2, tuple(range(10)), (1,)),
    "rare-absent": Site(3000, 0.001),
    "common-absent": Site(4000, 0.7),
    "below-boundary": Site(5001, BOUNDARY * (1 - 1e-4), (4,)),
    "above-boundary": Site(5002, BOUNDARY * (1 + 1e-4), (4,)),
    "f-min": Site(5003, F_MIN, (4,)),
    "just-below-f-min": Site(5004, F_MIN * (1 - 1e-3), (4,)),
    "unreferenced": Site(6000, None, (3,)),
}
Y, N, W = "yes", "no", "withheld"
GATE_DATASETS = ("big", "small", "b38")

# Per case: the query; what an anonymous caller is told per dataset (big, small, and b38: big's
# GRCh38 twin, for which no reference is loaded); what big and small hold (an open beacon's
# answer). A dataset is answered only where the gate is open for its N.
GATE_TABLE: dict[str, tuple[Params, tuple[str, str, str], tuple[str, str]]] = {
    "rare": (snv(1000), (W, W, W), (Y, Y)),
    "common": (snv(2000), (Y, Y, W), (Y, Y)),
    "mid": (snv(2500), (Y, W, W), (Y, Y)),  # open for 50 people, not for 4
    # the beacon lacks it: "no" would say what "yes" says for a carrier; withheld like "rare"
    "rare-absent": (snv(3000), (W, W, W), (N, N)),
    "common-absent": (snv(4000), (N, N, W), (N, N)),
    "below-boundary": (snv(5001), (W, W, W), (Y, N)),
    "above-boundary": (snv(5002), (Y, W, W), (Y, N)),
    "f-min": (snv(5003), (Y, W, W), (Y, N)),
    "just-below-f-min": (snv(5004), (Y, W, W), (Y, N)),  # f_min is first order: still open
    "unreferenced": (snv(6000), (W, W, W), (Y, N)),
    "no-such-allele": (snv(6000, alternateBases="T"), (W, W, W), (N, N)),
    "range-rare": (span(990, 1010), (W, W, W), (Y, Y)),
    "range-rare-and-common": (span(990, 2010), (Y, Y, W), (Y, Y)),
    "range-rare-absent": (span(2990, 3010), (W, W, W), (N, N)),
    "range-common-absent": (span(3990, 4010), (N, N, W), (N, N)),
    "range-below-boundary": (span(5000, 5001), (W, W, W), (Y, N)),
    "range-both-sides-of-the-boundary": (span(5000, 5002), (Y, W, W), (Y, N)),
    "range-unreferenced": (span(5990, 6010), (W, W, W), (Y, N)),
    "range-nothing-anywhere": (span(7000, 8000), (W, W, W), (N, N)),
    "range-snvs": (span(990, 2010, variantType="SNP"), (Y, Y, W), (Y, Y)),
    "range-other-alt": (span(990, 2010, alternateBases="T"), (W, W, W), (N, N)),
}


async def _gate_data(harness: Harness, *, reference: bool = True) -> None:
    for dataset, samples, assembly in (
        ("big", BIG, "GRCh37"),
        ("small", SMALL, "GRCh37"),
        ("b38", BIG, "GRCh38"),
    ):
        carriers = {
            site.pos: site.small if dataset == "small" else site.big for site in SITES.values()
        }
        rows = [row(pos, samples, found) for pos, found in carriers.items() if found]
        await harness.cohort(dataset, rows, samples, assembly)
    if reference:
        await harness.reference({s.pos: s.af for s in SITES.values() if s.af is not None})


def _assert_told(body: dict[str, Any], expected: tuple[str, ...], where: Any) -> None:
    told = dict(zip(GATE_DATASETS, expected, strict=True))
    assert body["responseSummary"]["exists"] is (Y in expected), where
    assert withheld(body) == {d for d, t in told.items() if t == W}, where
    assert body["meta"]["returnedGranularity"] == "boolean", where


@pytest.mark.parametrize("caller", [ANONYMOUS, SIGNED_IN], ids=["anonymous", "signed-in"])
@pytest.mark.parametrize("path", ["/g_variants", "/individuals"])
async def test_the_gate_answers_public_callers_only_where_the_reference_makes_no_unlikely(
    caller: Caller, path: str, harness: Harness
) -> None:
    await _gate_data(harness)
    node = await harness.start(protection())
    for name, (params, expected, _) in GATE_TABLE.items():
        for post in (False, True):
            body = await node.send(caller, params, path=path, post=post)
            _assert_told(body, expected, (name, post))


@pytest.mark.parametrize(
    ("allele", "expected"),
    [
        ("1_999_A_G", (W, W, W)),  # rare
        ("1_1999_A_G", (Y, Y, W)),  # common
        ("1_2499_A_G", (Y, W, W)),  # mid
        ("1_2999_A_G", (W, W, W)),  # rare, absent
        ("1_3999_A_G", (N, N, W)),  # common, absent
        ("1_5999_A_G", (W, W, W)),  # not in the reference
    ],
)
async def test_the_gate_answers_allele_ids_alike(
    allele: str, expected: tuple[str, str, str], harness: Harness
) -> None:
    await _gate_data(harness)
    node = await harness.start(protection())
    for caller in (ANONYMOUS, SIGNED_IN):
        _assert_told(await node.ask(caller, f"/g_variants/{allele}"), expected, caller)


async def test_the_gate_per_named_dataset_and_at_count(harness: Harness) -> None:
    """Naming one dataset, or asking for counts with every result set (PUBLIC allowed counts): a
    withheld dataset shows exists false, count 0 and the note; an answered one a noisy count."""
    await _gate_data(harness)
    granularity = {**POLICY.granularity, Tier.PUBLIC: Granularity.COUNT}
    node = await harness.start(protection(), policy=replace(POLICY, granularity=granularity))
    for name, (params, expected, _) in GATE_TABLE.items():
        for dataset, told in zip(GATE_DATASETS, expected, strict=True):
            body = await node.ask(ANONYMOUS, **params, datasetIds=dataset)
            assert body["responseSummary"]["exists"] is (told == Y), (name, dataset)
            assert withheld(body) == ({dataset} if told == W else set()), (name, dataset)
        body = await node.ask(
            ANONYMOUS, **params, requestedGranularity="count", includeResultsetResponses="ALL"
        )
        sets = {s["id"]: s for s in body["response"]["resultSets"]}
        for dataset, told in zip(GATE_DATASETS, expected, strict=True):
            result = sets[dataset]
            assert result["exists"] is (told == Y), (name, dataset)
            if told == W:
                assert result["resultsCount"] == 0
                assert "not answerable" in result["info"]["note"]
            elif told == Y:
                assert result["resultsCount"] >= K
                assert "noise" in adjusted(result), (name, dataset)


async def test_without_the_gate_public_callers_get_the_truth(harness: Harness) -> None:
    await _gate_data(harness)
    node = await harness.start(protection(gate=False))
    for name, (params, _, held) in GATE_TABLE.items():
        for path in ("/g_variants", "/individuals"):
            _assert_told(await node.ask(ANONYMOUS, path, **params), (*held, held[0]), name)


@pytest.mark.parametrize("loaded", ["nothing", "GRCh38-only"])
async def test_without_a_reference_nothing_is_answerable(loaded: str, harness: Harness) -> None:
    """Not even a common allele, nor a "no": the gate has nothing to go by."""
    await _gate_data(harness, reference=False)
    if loaded == "GRCh38-only":
        await harness.reference({site.pos: 0.9 for site in SITES.values()}, "GRCh38")
    node = await harness.start(protection())
    for name, (params, _, _) in GATE_TABLE.items():
        body = await node.ask(ANONYMOUS, **params, assemblyId="GRCh37")
        assert body["responseSummary"] == {"exists": False}, name
        assert withheld(body) == {"big", "small"}, name


async def test_the_gate_does_not_read_the_beacons_own_data(harness: Harness) -> None:
    """A rare allele the dataset holds and a rare allele it lacks get the same answer, all of it
    but the echo of the request: an anonymous caller learns nothing from the dataset."""
    await _gate_data(harness)
    node = await harness.start(protection())
    present = await node.ask(ANONYMOUS, **snv(1000), datasetIds="big")
    absent = await node.ask(ANONYMOUS, **snv(3000), datasetIds="big")
    for body in (present, absent):
        body["meta"].pop("receivedRequestSummary")
    assert present == absent
    assert withheld(present) == {"big"}


async def test_registered_callers_are_never_told_not_answerable(harness: Harness) -> None:
    await _gate_data(harness)
    node = await harness.start(protection())
    for name, (params, told, held) in GATE_TABLE.items():
        body = await node.ask(ALICE, **params, assemblyId="GRCh37")
        assert "info" not in body, name
        if W not in told[:2]:  # where the gate is open, REGISTERED answers are the truth
            assert body["responseSummary"]["exists"] is (Y in held), name


async def test_without_access_nothing_is_guarded(harness: Harness) -> None:
    """A beacon without `[access]` is open: gate, noise and budgets do not apply."""
    await _gate_data(harness, reference=False)
    node = await harness.start(protection(), policy=None)
    body = await node.ask(
        ANONYMOUS, **snv(1000), requestedGranularity="count", includeResultsetResponses="ALL"
    )
    assert counts(body) == ({"big": K, "small": K, "b38": K}, 3 * K)
    assert adjusted(body["responseSummary"]) == ["threshold"]
    assert "info" not in body
    assert await harness.db[LEDGER].count_documents({}) == 0


# --- The REGISTERED risk budget -----------------------------------------------------------------

PEOPLE = 8
F_RISKY = 1 - 0.25 ** (1 / (2 * PEOPLE))
"""A reference frequency making D = (1-f)^(2N) = 0.25 for 8 people: each "yes" costs
-log10(0.75) = 0.125 of B = -log10(0.5) = 0.301, so a carrier pays for two, not three."""
COST = risk_cost(weight([F_RISKY]), PEOPLE)
BUDGET = Protection().budget
FITS = math.floor(BUDGET / COST)

RISKY = [10_000 + 100 * i for i in range(40)]  # carried by s1 alone
OTHER = 20_000  # carried by s2 alone
PAIR = (30_000, 30_010)  # one carried by s1, one by s2
ABSENT = 40_000  # in the reference only
COMMON = 50_000  # common: the gate is open, REGISTERED answers are free


async def _risk_data(harness: Harness) -> dict[str, str]:
    rows = [row(pos, PEOPLE, (0,)) for pos in RISKY]
    rows += [row(OTHER, PEOPLE, (1,)), row(PAIR[0], PEOPLE, (0,)), row(PAIR[1], PEOPLE, (1,))]
    rows.append(row(COMMON, PEOPLE, range(6)))
    releases = {d: await harness.cohort(d, rows, PEOPLE) for d in ("r1", "r2")}
    frequencies = dict.fromkeys([*RISKY, OTHER, *PAIR, ABSENT], F_RISKY)
    await harness.reference({**frequencies, COMMON: 0.9})
    return releases


def test_the_risk_budget_premises() -> None:
    """The numbers the tests below are built on: two "yes" fit into B, three do not."""
    assert pytest.approx(-math.log10(0.75)) == COST
    assert FITS == 2
    assert FITS * COST <= BUDGET < (FITS + 1) * COST


async def _exists(node: Node, caller: Caller, dataset: str, **params: str) -> bool:
    body = await node.ask(caller, **params, datasetIds=dataset)
    assert "info" not in body  # a refused "yes" is a plain "no"
    return bool(body["responseSummary"]["exists"])


def _spent(account: dict[str, Any] | None) -> dict[str, float]:
    return {} if account is None else dict(account.get("spent", {}))


async def test_a_carriers_budget_pays_for_two_rare_yes_answers_then_no(harness: Harness) -> None:
    await _risk_data(harness)
    node = await harness.start(protection())
    told = [await _exists(node, ALICE, "r1", **snv(pos)) for pos in RISKY[:4]]
    assert told == [True] * FITS + [False] * (4 - FITS)
    account = await harness.account(ALICE, "r1")
    assert _spent(account) == pytest.approx({"0": FITS * COST})
    assert account is not None and len(account["answers"]) == 4  # the "no"s are history too
    # another carrier's budget is their own; a rare allele the dataset lacks costs nothing
    assert await _exists(node, ALICE, "r1", **snv(OTHER))
    assert not await _exists(node, ALICE, "r1", **snv(ABSENT))
    assert _spent(await harness.account(ALICE, "r1")) == pytest.approx(
        {"0": FITS * COST, "1": COST}
    )
    # another user, another dataset: budgets of their own
    assert await _exists(node, BOB, "r1", **snv(RISKY[2]))
    assert await _exists(node, ALICE, "r2", **snv(RISKY[2]))
    assert _spent(await harness.account(BOB, "r1")) == pytest.approx({"0": COST})
    assert _spent(await harness.account(ALICE, "r2")) == pytest.approx({"0": COST})


async def test_a_yes_charges_every_carrier(harness: Harness) -> None:
    """A range over two rare alleles, carried by s1 and s2: both pay, the cost of the two."""
    await _risk_data(harness)
    node = await harness.start(protection())
    assert await _exists(node, DAVE, "r1", **span(PAIR[0] - 5, PAIR[1] + 5))
    both = risk_cost(weight([F_RISKY, F_RISKY]), PEOPLE)
    assert _spent(await harness.account(DAVE, "r1")) == pytest.approx({"0": both, "1": both})
    assert both < COST


async def test_common_alleles_are_free(harness: Harness) -> None:
    await _risk_data(harness)
    node = await harness.start(protection())
    for _ in range(2 * FITS + 2):
        assert await _exists(node, ALICE, "r1", **snv(COMMON))
    assert await harness.account(ALICE, "r1") is None


def _spellings(pos: int) -> list[tuple[bool, Params]]:
    """(POST?, parameters): one query, written every way that means it."""
    base = snv(pos)
    return [
        (False, base),
        (True, base),
        (False, {**base, "referenceName": "chr1"}),
        (True, {**base, "referenceName": "chr1"}),
        # VCF-style padding before and after the SNV
        (False, {**base, "start": str(pos - 2), "referenceBases": "CA", "alternateBases": "CG"}),
        (False, {**base, "referenceBases": "AT", "alternateBases": "GT"}),
        (True, {**base, "start": str(pos - 3), "referenceBases": "TTAC", "alternateBases": "TTGC"}),
    ]


def _assembly_spellings(pos: int) -> list[tuple[bool, Params]]:
    base = snv(pos, assemblyId="GRCh37")
    return [
        (False, base),
        (False, {**base, "assemblyId": "hg19"}),
        (True, {**base, "assemblyId": "GRCh37.p13"}),
        (False, {**base, "referenceName": "NC_000001.10"}),
        (False, {**base, "referenceName": "refseq:NC_000001.10", "assemblyId": "hg19"}),
    ]


@pytest.mark.parametrize("spellings", [_spellings, _assembly_spellings])
async def test_asking_again_in_any_spelling_is_answered_from_history(
    spellings: Any, harness: Harness
) -> None:
    """The same answer, nothing charged: a "yes" stays "yes" when the budget is gone, a "no"
    stays "no" (asking again cannot tell a refused "yes" from a true "no")."""
    await _risk_data(harness)
    node = await harness.start(protection())
    first, second, third = (spellings(pos) for pos in RISKY[:3])
    told = []
    for post, params in (first[0], second[0], third[0]):
        body = await node.send(ALICE, {**params, "datasetIds": "r1"}, post=post)
        told.append(body["responseSummary"]["exists"])
    assert told == [True, True, False]
    before = await harness.account(ALICE, "r1")
    assert before is not None
    assert _spent(before) == pytest.approx({"0": FITS * COST})
    for query, expected in ((first, True), (second, True), (third, False)):
        for post, params in query:
            body = await node.send(ALICE, {**params, "datasetIds": "r1"}, post=post)
            assert body["responseSummary"] == {"exists": expected}, params
    assert await harness.account(ALICE, "r1") == before


async def test_budgets_and_history_survive_a_restart(harness: Harness) -> None:
    await _risk_data(harness)
    node = await harness.start(protection())
    assert [await _exists(node, ALICE, "r1", **snv(pos)) for pos in RISKY[:3]] == [
        True,
        True,
        False,
    ]
    assert await _exists(node, BOB, "r1", **snv(RISKY[0]))
    await harness.stop(node)
    node = await harness.start(protection())
    assert not await _exists(node, ALICE, "r1", **snv(RISKY[3]))  # spent before the restart
    assert await _exists(node, ALICE, "r1", **snv(RISKY[0]))  # history
    assert not await _exists(node, ALICE, "r1", **snv(RISKY[2]))
    assert await _exists(node, BOB, "r1", **snv(RISKY[1]))
    assert not await _exists(node, BOB, "r1", **snv(RISKY[2]))
    assert _spent(await harness.account(ALICE, "r1")) == pytest.approx({"0": FITS * COST})


async def _race(harness: Harness, caller: Caller, positions: list[int]) -> list[dict[str, Any]]:
    """One user's boolean queries, all at once, through two node processes on one database."""
    nodes = [await harness.start(protection()), await harness.start(protection())]
    return list(
        await asyncio.gather(
            *(
                nodes[i % 2].ask(caller, **snv(pos), datasetIds="r1")
                for i, pos in enumerate(positions)
            )
        )
    )


async def test_racing_requests_of_one_user_cannot_overspend(harness: Harness) -> None:
    """Many distinct rare queries on one carrier at once: at most two "yes"; asking on, exactly
    two in all, and the ledger says so."""
    await _risk_data(harness)
    racing = await _race(harness, CAROL, RISKY[:-4])
    told = [body["responseSummary"]["exists"] for body in racing]
    assert 1 <= sum(told) <= FITS, told
    node = await harness.start(protection())
    after = [await _exists(node, CAROL, "r1", **snv(pos)) for pos in RISKY[-4:]]
    assert sum(told) + sum(after) == FITS, (told, after)
    spent = _spent(await harness.account(CAROL, "r1"))
    assert spent == pytest.approx({"0": FITS * COST})
    assert spent["0"] <= BUDGET


async def test_an_answer_lost_to_a_race_says_nothing_of_a_count_budget(harness: Harness) -> None:
    """A boolean request that keeps losing the ledger race is answered "no" (fail closed), and
    nothing more: it asked for no count, and none of its count budget was used."""
    await _risk_data(harness)
    racing = await _race(harness, CAROL, RISKY[:-4])
    notes = [body["info"] for body in racing if "info" in body]
    account = await harness.account(CAROL, "r1")
    assert account is not None and account.get("counts", 0) == 0
    assert notes == [], f"{len(notes)} of {len(racing)} boolean answers said: {notes[0]}"


async def test_a_full_history_answers_no_to_new_budgeted_queries(harness: Harness) -> None:
    """`history_max` answers per user and release: past it a new budgeted query is a "no" even
    where every carrier could pay; what is in the history is answered as before."""
    await _risk_data(harness)
    node = await harness.start(protection(history_max=2))
    assert await _exists(node, ALICE, "r1", **snv(RISKY[0]))
    assert await _exists(node, ALICE, "r1", **snv(OTHER))
    assert not await _exists(node, ALICE, "r1", **span(PAIR[0] - 5, PAIR[1] + 5))
    assert await _exists(node, ALICE, "r1", **snv(RISKY[0]))
    assert await _exists(node, ALICE, "r1", **snv(COMMON))  # the gate is open: no budget
    assert await _exists(node, BOB, "r1", **span(PAIR[0] - 5, PAIR[1] + 5))
    assert _spent(await harness.account(ALICE, "r1")) == pytest.approx({"0": COST, "1": COST})


async def test_without_a_reference_the_datasets_own_frequency_prices_a_yes(
    harness: Harness,
) -> None:
    """No reference: the cost comes from the dataset's AC/AN (1/16 for one carrier of 8)."""
    rows = [row(pos, PEOPLE, (0,)) for pos in RISKY[:4]]
    await harness.cohort("r1", rows, PEOPLE)
    node = await harness.start(protection())
    own = risk_cost(weight([1 / (2 * PEOPLE)]), PEOPLE)
    fits = math.floor(BUDGET / own)
    told = [await _exists(node, ALICE, "r1", **snv(pos)) for pos in RISKY[:4]]
    assert told == [True] * fits + [False] * (4 - fits)
    assert _spent(await harness.account(ALICE, "r1")) == pytest.approx({"0": fits * own})


# --- REGISTERED counts: keyed noise and the count budget ----------------------------------------

RANGES = [100_000 * (i + 1) for i in range(8)]
"""Range i is [RANGES[i], RANGES[i] + 1000): dataset c holds 24 alleles in each (allele j
carried by sample j % 8, so 8 carriers), dataset d 12 (allele j by sample j % 4: 4 carriers)."""
IN_C, IN_D = 24, 12
CARRIERS = {"c": 8, "d": 4}


def _count_rows(alleles: int, carriers: int) -> list[str]:
    return [
        row(start + 1 + 10 * j, PEOPLE, (j % carriers,)) for start in RANGES for j in range(alleles)
    ]


async def _common_reference(harness: Harness) -> None:
    """Every position these tests use is common (30%) in the reference: REGISTERED callers get
    counts there (count_min_frequency) and the gate is open (no risk budget to pay)."""
    await harness.reference({start + 1 + 10 * j: 0.3 for start in RANGES for j in range(60)})


async def _count_data(harness: Harness) -> dict[str, str]:
    await _common_reference(harness)
    return {
        "c": await harness.cohort("c", _count_rows(IN_C, 8), PEOPLE),
        "d": await harness.cohort("d", _count_rows(IN_D, 4), PEOPLE),
    }


def _range(i: int, **changes: str) -> Params:
    return span(RANGES[i], RANGES[i] + 1000, **changes)


def _modelled(
    secret: bytes, params: Params, dataset: str, release: str, kind: str, true: int
) -> int:
    """What the keyed noise and the threshold make of a count: threshold(noisy(true))."""
    lists = {k: [int(v)] if k in ("start", "end") else v for k, v in params.items()}
    canonical = parse_query(lists, max_span=5_000_000).canonical(assembly=False)
    key = noise_key(secret, canonical, dataset, release, kind)
    shown = noisy(true, key, EPSILON)
    return threshold(shown.value, K, shown.adjusted).value


COUNT = {"requestedGranularity": "count", "includeResultsetResponses": "ALL"}
COUNT_GUARD = protection(count_budget=3)
"""Three counts per user and dataset release."""


async def test_counts_are_noised_by_a_key_of_query_dataset_and_release(
    harness: Harness,
) -> None:
    releases = await _count_data(harness)
    for secret in (SECRET, seeded(1)):
        node = await harness.start(protection(), secret=secret)
        for i in range(len(RANGES)):
            for path, kind, true in (
                ("/g_variants", "total", {"c": IN_C, "d": IN_D}),
                ("/individuals", "individuals", CARRIERS),
            ):
                body = await node.ask(ALICE, path, **_range(i), **COUNT)
                sets, total = counts(body)
                expected = {
                    d: _modelled(secret, _range(i), d, releases[d], kind, true[d]) for d in sets
                }
                assert sets == expected, (i, path)
                assert total == sum(sets.values())
                assert "noise" in adjusted(body["responseSummary"])
                assert all("noise" in adjusted(s) for s in body["response"]["resultSets"])


async def test_the_same_query_gets_the_same_noisy_count(harness: Harness) -> None:
    """Asked again, respelled (chr1, POST, assemblyId hg19 vs GRCh37), or after a restart: the
    same numbers, so there is nothing to average; other queries with the same true count get
    other noise."""
    await _count_data(harness)
    node = await harness.start(protection())
    spellings = [
        (False, _range(0)),
        (True, _range(0)),
        (False, _range(0, referenceName="chr1")),
        (True, _range(0, referenceName="chr1")),
    ]
    assembly = [
        (False, _range(0, assemblyId="GRCh37")),
        (False, _range(0, assemblyId="hg19")),
        (True, _range(0, referenceName="NC_000001.10")),
    ]
    seen: dict[str, list[tuple[dict[str, int], int]]] = {"plain": [], "assembly": []}
    for _ in range(2):
        for name, group in (("plain", spellings), ("assembly", assembly)):
            for post, params in group:
                for path in ("/g_variants", "/individuals"):
                    body = await node.send(ALICE, {**params, **COUNT}, path=path, post=post)
                    seen[name].append(counts(body))
        await harness.stop(node)
        node = await harness.start(protection(), secret=None)  # the key it stored
    for answers in seen.values():
        assert answers[0::2] == [answers[0]] * (len(answers) // 2)  # /g_variants
        assert answers[1::2] == [answers[1]] * (len(answers) // 2)  # /individuals
    others = [counts(await node.ask(ALICE, **_range(i), **COUNT))[0] for i in range(8)]
    assert len({sets[d] for sets in others for d in sets}) > 1, others


async def test_a_node_makes_its_noise_key_once_and_keeps_it(harness: Harness) -> None:
    await _count_data(harness)
    node = await harness.start(protection(), secret=None)
    first = counts(await node.ask(ALICE, **_range(0), **COUNT))
    stored = await harness.db[STATE].find_one({"_id": "noise_key"})
    assert stored is not None and len(bytes(stored["value"])) == 32
    await harness.stop(node)
    node = await harness.start(protection(), secret=None)
    assert counts(await node.ask(BOB, **_range(0), **COUNT)) == first
    assert await harness.db[STATE].find_one({"_id": "noise_key"}) == stored


async def test_the_count_budget(harness: Harness) -> None:
    """Three count answers per user and dataset release: the fourth new one is a boolean with
    info.countBudget; repeats of the first three stay counts, the same ones; another user has a
    budget of their own; a new release of the dataset starts a new budget."""
    await _count_data(harness)
    node = await harness.start(COUNT_GUARD)
    ask = {**COUNT, "datasetIds": "c"}
    first = [counts(await node.ask(ALICE, **_range(i), **ask)) for i in range(3)]
    refused = await node.ask(ALICE, **_range(3), **ask)
    assert refused["meta"]["returnedGranularity"] == "boolean"
    assert refused["responseSummary"] == {"exists": True}
    assert refused["info"]["countBudget"]["datasets"] == ["c"]
    assert "used up" in refused["info"]["countBudget"]["message"]
    assert "response" not in refused
    # the budget is one for both endpoints
    body = await node.ask(ALICE, "/individuals", **_range(4), **ask)
    assert body["meta"]["returnedGranularity"] == "boolean"
    assert body["info"]["countBudget"]["datasets"] == ["c"]
    again = [counts(await node.post(ALICE, **_range(i), **ask)) for i in range(3)]
    assert again == first
    account = await harness.account(ALICE, "c")
    assert account is not None and account["counts"] == 3
    # booleans are not counted against it
    assert (await node.ask(ALICE, **_range(5), datasetIds="c"))["responseSummary"]["exists"]
    # another user
    assert counts(await node.ask(BOB, **_range(3), **ask))[0]["c"] >= K
    # a restart changes nothing
    await harness.stop(node)
    node = await harness.start(COUNT_GUARD)
    assert (await node.ask(ALICE, **_range(3), **ask))["meta"]["returnedGranularity"] == "boolean"
    assert counts(await node.ask(ALICE, **_range(0), **ask)) == first[0]
    # a new release: a new budget (and new noise)
    old = await harness.release("c")
    release = await harness.cohort("c", _count_rows(IN_C, 8), PEOPLE)
    assert release != old
    fresh = [counts(await node.ask(ALICE, **_range(i), **ask)) for i in (3, 4, 5)]
    assert all(sets["c"] >= K for sets, _ in fresh)
    last = await node.ask(ALICE, **_range(6), **ask)
    assert last["meta"]["returnedGranularity"] == "boolean"
    expected = [_modelled(SECRET, _range(i), "c", release, "total", IN_C) for i in (3, 4, 5)]
    assert [sets["c"] for sets, _ in fresh] == expected


async def test_a_spent_count_budget_of_one_dataset_spends_none_of_another(
    harness: Harness,
) -> None:
    """One dataset's budget is spent, so the whole answer is a boolean: the other dataset gave
    no count, and its budget must not pay for one."""
    await _count_data(harness)
    node = await harness.start(COUNT_GUARD)
    for i in range(3):
        counts(await node.ask(ALICE, **_range(i), **COUNT, datasetIds="c"))
    body = await node.ask(ALICE, **_range(3), **COUNT, datasetIds="c,d")
    assert body["meta"]["returnedGranularity"] == "boolean"
    assert body["info"]["countBudget"]["datasets"] == ["c"]
    account = await harness.account(ALICE, "d")
    assert account is None or account["counts"] == 0, account


async def test_totals_are_sums_of_the_shown_noisy_counts(harness: Harness) -> None:
    await _count_data(harness)
    for seed in range(4):
        node = await harness.start(protection(), secret=seeded(seed))
        for i in range(len(RANGES)):
            for path in ("/g_variants", "/individuals"):
                body = await node.ask(ALICE, path, **_range(i), **COUNT)
                sets, total = counts(body)
                assert total == sum(sets.values())
                assert all(value >= K for value in sets.values())
                assert set(adjusted(body["responseSummary"])) >= {"noise"}


async def test_controlled_callers_get_exact_counts_without_a_budget(harness: Harness) -> None:
    """Granted c: its counts exact and unlimited; d beside it (REGISTERED) noised."""
    await _count_data(harness)
    node = await harness.start(COUNT_GUARD)
    granted = Caller("gina", True, ("c",))
    for i in range(3):
        body = await node.ask(granted, **_range(i), **COUNT)
        sets = {s["id"]: s for s in body["response"]["resultSets"]}
        assert (sets["c"]["resultsCount"], adjusted(sets["c"])) == (IN_C, [])
        assert "noise" in adjusted(sets["d"])
        assert body["responseSummary"]["numTotalResults"] == IN_C + sets["d"]["resultsCount"]
    only_c = Caller("greta", False, ("c",))
    for i in range(len(RANGES)):
        body = await node.ask(only_c, **_range(i), **COUNT, datasetIds="c")
        assert counts(body) == ({"c": IN_C}, IN_C)
        body = await node.ask(only_c, "/individuals", **_range(i), **COUNT, datasetIds="c")
        assert counts(body) == ({"c": CARRIERS["c"]}, CARRIERS["c"])
        assert adjusted(body["responseSummary"]) == []
    assert await harness.account(only_c, "c") is None


MANY = 200
"""People in dataset f: enough that alleles of 0.5% are affordable under the risk budget."""
# name: (1-based position, reference INFO or None, whether REGISTERED callers get a count)
FREQUENT: dict[str, tuple[int, str | None, bool]] = {
    "two-percent": (1000, "AF=0.02", True),
    "half-a-percent": (2000, "AF=0.005", False),
    "not-in-the-reference": (3000, None, False),
    "one-of-0.6-percent": (4000, "AF=0.006", False),
    "one-percent-by-ac-an": (6000, "AC=1;AN=100", True),
}


async def _frequent_data(harness: Harness, extra: Mapping[int, str] | None = None) -> None:
    """Dataset f (200 people): each allele of FREQUENT (and `extra`) carried by 6 others, and a
    second 0.6% allele 10 bases after the first."""
    extra = extra or {}
    positions = [pos for pos, _, _ in FREQUENT.values()] + [4010, *extra]
    rows = [row(pos, MANY, range(6 * i, 6 * i + 6)) for i, pos in enumerate(positions)]
    await harness.cohort("f", rows, MANY)
    reference: dict[int, float | str] = {p: i for p, i, _ in FREQUENT.values() if i is not None}
    await harness.reference({**reference, 4010: "AF=0.006", **extra})


@pytest.mark.parametrize("path", ["/g_variants", "/individuals"])
async def test_registered_counts_only_where_the_reference_is_common_enough(
    path: str, harness: Harness
) -> None:
    """count_min_frequency (1%): a REGISTERED count only where the reference alleles a query
    matches weigh as much as one allele of 1% (two of 0.6% do); rarer, or not in the reference:
    a boolean (true) with info.tooRareToCount, and none of the count budget spent."""
    await _frequent_data(harness)
    node = await harness.start(protection())
    cases = [(name, snv(pos), counted) for name, (pos, _, counted) in FREQUENT.items()]
    cases.append(("two-of-0.6-percent", span(3990, 4020), True))
    given = 0
    for name, params, counted in cases:
        body = await node.ask(ALICE, path, **params, **COUNT)
        assert body["responseSummary"]["exists"] is True, name
        if counted:
            assert counts(body)[0]["f"] >= K, name
            assert "info" not in body, name
            given += 1
        else:
            assert body["meta"]["returnedGranularity"] == "boolean", name
            assert body["info"] == {
                "tooRareToCount": {"datasets": ["f"], "message": TOO_RARE_TO_COUNT}
            }, name
    account = await harness.account(ALICE, "f")
    assert account is not None and account["counts"] == given
    # the gate is not what decides: without it (PUBLIC answers everything) the same holds
    node = await harness.start(protection(gate=False))
    body = await node.ask(BOB, path, **snv(2000), **COUNT)
    assert "tooRareToCount" in body["info"]


async def test_an_allele_listed_at_exactly_count_min_frequency_is_counted(
    harness: Harness,
) -> None:
    """ "At least as common as count_min_frequency": a reference allele of AF=0.01 gets counts,
    as one of AC=1;AN=100 does."""
    await _frequent_data(harness, {5000: "AF=0.01"})
    node = await harness.start(protection())
    for pos in (6000, 5000):
        body = await node.ask(ALICE, **snv(pos), **COUNT)
        assert body["meta"]["returnedGranularity"] == "count", (pos, body.get("info"))


# --- Differencing attacks against the protected node --------------------------------------------

# Dataset a holds 12 alleles in each range (hidden nowhere); dataset h holds HIDDEN[i] in range i:
# counts in 1..k-1 that must not come out.
HIDDEN = [1, 2, 3, 4, 1, 2, 3, 4]
IN_A = 12


async def _attack_data(harness: Harness) -> None:
    await _common_reference(harness)
    await harness.cohort("a", _count_rows(IN_A, 6), PEOPLE)
    rows = [
        row(start + 1 + 10 * j, PEOPLE, (j,))
        for start, hidden in zip(RANGES, HIDDEN, strict=True)
        for j in range(hidden)
    ]
    await harness.cohort("h", rows, PEOPLE)


@pytest.mark.parametrize("path", ["/g_variants", "/individuals"])
async def test_a_dataset_subset_difference_never_shows_a_hidden_count(
    path: str, harness: Harness
) -> None:
    """count({a, h}) - count({a}), and the total minus a's part of it, are h's shown count: the
    threshold on noisy counts keeps it at k or more, never h's true count, for every key."""
    await _attack_data(harness)
    for seed in range(8):
        node = await harness.start(protection(), secret=seeded(seed))
        attacker = Caller(f"mallory-{seed}", True)
        for i, hidden in enumerate(HIDDEN):
            both = counts(await node.ask(attacker, path, **_range(i), **COUNT, datasetIds="a,h"))
            alone = counts(await node.ask(attacker, path, **_range(i), **COUNT, datasetIds="a"))
            assert both[0]["a"] == alone[0]["a"]  # a's noise does not depend on what is beside it
            for difference in (both[1] - alone[1], both[1] - both[0]["a"]):
                assert difference == both[0]["h"] >= K
                assert difference != hidden
        await harness.stop(node)


async def test_nested_range_differences_rarely_show_a_hidden_count(harness: Harness) -> None:
    """count(A and B) - count(A), A of 12 alleles in dataset a, B of 1..4 more: without noise
    this is B exactly, every time. With it, over 16 keys and 4 sizes of B, it is B in far fewer
    cases (about 1 in 8: the chance that two independent noises are equal)."""
    rows = []
    for i, b in enumerate(HIDDEN[:4]):
        rows += [row(RANGES[i] + 1 + 10 * j, PEOPLE, (j % 8,)) for j in range(IN_A)]
        rows += [row(RANGES[i] + 501 + 10 * j, PEOPLE, (j % 8,)) for j in range(b)]
    await harness.cohort("a", rows, PEOPLE)
    await _common_reference(harness)
    plain = await harness.start(protection(noise=False))
    hits, tried = 0, 0
    for i, b in enumerate(HIDDEN[:4]):
        inner = span(RANGES[i], RANGES[i] + 500, datasetIds="a")
        outer = span(RANGES[i], RANGES[i] + 1000, datasetIds="a")
        shown = [counts(await plain.ask(ALICE, **q, **COUNT))[1] for q in (inner, outer)]
        assert shown[1] - shown[0] == b  # the leak noise is there to stop
        for seed in range(16):
            node = await harness.start(protection(), secret=seeded(seed))
            attacker = Caller(f"mallory-{seed}", True)
            inner_count = counts(await node.ask(attacker, **inner, **COUNT))[1]
            outer_count = counts(await node.ask(attacker, **outer, **COUNT))[1]
            assert counts(await node.post(attacker, **inner, **COUNT))[1] == inner_count
            hits += outer_count - inner_count == b
            tried += 1
            await harness.stop(node)
    assert tried == 64
    # The noise depends on the (random) release too: 25 or more of 64 has a chance near 1e-7.
    assert hits <= 24, f"{hits} of {tried} differences showed B's true count"


async def test_the_count_budget_caps_the_differences_one_user_can_take(harness: Harness) -> None:
    """Every respelling that changes the canonical query (here: both ranges widened over empty
    bases) is a new query with new noise, so an attacker can collect independent differences to
    average; each costs two count answers, and the budget stops them at count_budget / 2."""
    rows = [row(RANGES[0] + 1 + 10 * j, PEOPLE, (j % 8,)) for j in range(IN_A)]
    rows += [row(RANGES[0] + 501 + 10 * j, PEOPLE, (j,)) for j in range(2)]
    await harness.cohort("a", rows, PEOPLE)
    await _common_reference(harness)
    budget = 20
    node = await harness.start(protection(count_budget=budget))
    differences = []
    for widen in range(budget):
        outer = span(RANGES[0], RANGES[0] + 1000 + widen, datasetIds="a")
        inner = span(RANGES[0], RANGES[0] + 200 + widen, datasetIds="a")
        asked = [await node.ask(ALICE, **q, **COUNT) for q in (outer, inner)]
        if any(a["meta"]["returnedGranularity"] == "boolean" for a in asked):
            assert all(a["info"]["countBudget"]["datasets"] == ["a"] for a in asked)
            break
        differences.append(counts(asked[0])[1] - counts(asked[1])[1])
    assert len(differences) == budget // 2
    assert len(set(differences)) > 1, differences  # independent draws: averaging is possible
    account = await harness.account(ALICE, "a")
    assert account is not None and account["counts"] == budget


# --- Spellings the defences must take for one query --------------------------------------------


async def test_naming_the_datasets_assembly_gets_the_same_noise(harness: Harness) -> None:
    """For GRCh37 datasets, a query without assemblyId, with assemblyId=GRCh37, or on
    NC_000001.10 (which implies it) searches the same datasets and finds the same alleles: one
    query, so one noisy count. A second draw of the noise halves what averaging needs."""
    await _count_data(harness)
    node = await harness.start(protection())
    differ = []
    for i in range(4):
        for path in ("/g_variants", "/individuals"):
            plain = counts(await node.ask(ALICE, path, **_range(i), **COUNT))
            for named in (
                _range(i, assemblyId="GRCh37"),
                _range(i, referenceName="NC_000001.10"),
            ):
                if counts(await node.ask(ALICE, path, **named, **COUNT)) != plain:
                    differ.append((i, path, named["referenceName"]))
    assert differ == []


async def test_naming_the_datasets_assembly_is_answered_from_history(harness: Harness) -> None:
    """A "yes" asked again with assemblyId=GRCh37 (or as NC_000001.10) is the same question for
    a GRCh37 dataset: answered from history, charged nothing, and never a "no" once the budget
    is spent (a "yes" then "no" for one question tells that the "no" was the budget's)."""
    await _risk_data(harness)
    node = await harness.start(protection())
    assert [await _exists(node, ALICE, "r1", **snv(pos)) for pos in RISKY[:2]] == [True, True]
    before = await harness.account(ALICE, "r1")
    told = [
        await _exists(node, ALICE, "r1", **snv(RISKY[0], assemblyId="GRCh37")),
        await _exists(node, ALICE, "r1", **snv(RISKY[1], referenceName="NC_000001.10")),
    ]
    assert told == [True, True]
    assert await harness.account(ALICE, "r1") == before


# --- The settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Protection()),
        ("[privacy]\ngate = false\n", Protection(gate=False)),
        ("[privacy]\nnoise = false\n", Protection(noise=False)),
        ("[privacy]\ncount_min_frequency = 0.05\n", Protection(count_min_frequency=0.05)),
        (
            "[privacy]\ngate_error = 0.01\nrisk_p = 0.1\ncount_epsilon = 0.1\ncount_budget = 7\n"
            "rate_per_minute = 0\n",
            Protection(
                gate_error=0.01, risk_p=0.1, count_epsilon=0.1, count_budget=7, rate_per_minute=0
            ),
        ),
    ],
    ids=["defaults", "gate", "noise", "count-min-frequency", "numbers"],
)
def test_privacy_settings_in_the_config_file(
    text: str, expected: Protection, tmp_path: Path
) -> None:
    path = tmp_path / "beacon.toml"
    path.write_text(text)
    assert load_settings({}, path).protection == expected


async def test_a_sites_only_dataset_gives_registered_callers_no_rare_yes(
    harness: Harness,
) -> None:
    """Without genotypes there is no carrier to charge: a rare allele must not be a free "yes"
    (the attack's own setting); as it cannot be budgeted, it is a "no"."""
    rows = ["1 100 . A G . PASS AC=1;AN=4000", "1 200 . A G . PASS AC=1;AN=4000"]
    path = write_vcf(harness.tmp / "sites.vcf", rows, [])
    await harness.ingest(path, "a", "GRCh37")
    await harness.reference({100: 0.0001, 200: 0.0001})
    node = await harness.start(protection())
    for pos in (100, 200, 100):
        body = await node.ask(ALICE, **snv(pos))
        assert body["responseSummary"]["exists"] is False, body
    assert (await node.ask(ANONYMOUS, **snv(100)))["responseSummary"]["exists"] is False
