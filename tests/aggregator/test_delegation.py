"""The aggregator's per-member tokens over real HTTP: the caller's identity carried to members,
never their token.

A real aggregator, given its own EC P-256 key, verifies callers (IDP_A tokens with VISAS visas)
and mints for every member call a token of its own: `aud` that member, `sub` the caller's
pseudonym (or `anonymous:` and a keyed hash of their address), and only the visas that member
can use. Members are recording apps (what reaches them) and a real node trusting the aggregator
as a delegating issuer through the aggregator's real /.well-known/jwks.json, so that a person's
answers, budgets and request limits there are the same directly and through the network.

The member node must know the aggregator's URL before the aggregator can know the member's: the
aggregator's socket is bound first (`Reserved`) and handed to its server when it starts.
"""

from __future__ import annotations

import base64
import json
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pymongo import AsyncMongoClient

from beacon.aggregator.app import create_aggregator_app
from beacon.aggregator.delegation import JWKS_PATH, Signer
from beacon.config import BeaconInfo, Member, NetworkConfig, Settings
from beacon.node.app import create_node_app
from beacon.privacy import Protection
from beacon.results import Granularity
from beacon.store.ledger import LEDGER
from beacon.tokens import AccessConfig, Issuer, VisaIssuer, pseudonym
from tests.aggregator.conftest import FileAggregatorFactory, Recorder
from tests.aggregator.support import (
    eventually,
    everywhere,
    get,
    member_lines,
    node_body,
    rewrite,
    toml,
)
from tests.auth_support import (
    AUDIENCE,
    DATASET,
    GRANTING,
    IDP_A,
    OTHER_DATASET,
    OUTSIDER,
    VISAS,
    KeySetServer,
    access_token,
    bona_fide_visas,
    grant,
    key_set,
    keys,
    tampered,
    visa,
)
from tests.conftest import Ingest, write_vcf
from tests.tier_data import OWN, POLICY, SHARED
from tests.tier_data import own as _own
from tests.tier_data import rows as _rows

AGGREGATOR = "https://aggregator.example"
"""The `iss` of the aggregator's tokens."""
NETWORK = "https://network.example"
"""The `aud` callers' tokens carry at the aggregator (its `[access] audience`)."""
MEMBER_AUDIENCE = AUDIENCE
"""The real member node's `[access] audience`: callers' direct tokens and the aggregator's."""
NOBODYS_GRANT = "https://datasets.example/nobody"
"""A grant no member lists."""
ALICE, BOB = pseudonym(IDP_A, "alice"), pseudonym(IDP_A, "bob")
TOKEN_CLAIMS = {"iss", "sub", "aud", "iat", "exp"}

# --- keys, tokens, callers -----------------------------------------------------------------


@cache
def aggregator_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def signer(lifetime: float = 60.0) -> Signer:
    return Signer(AGGREGATOR, aggregator_key(), lifetime)


def caller_token(sub: str = "alice", *passport: str, aud: str = NETWORK) -> str:
    """An IDP_A token of `sub` for `aud` (the aggregator by default) carrying `passport`."""
    if passport:
        return access_token(sub=sub, aud=aud, ga4gh_passport_v1=list(passport))
    return access_token(sub=sub, aud=aud)


def claims_of(token: str) -> dict[str, Any]:
    """A JWT's payload, unverified (what a member was sent)."""
    part = token.split(".")[1]
    found: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return found


def bearer_of(headers: dict[str, str]) -> str | None:
    value = headers.get("Authorization")
    return None if value is None else value.removeprefix("Bearer ")


@dataclass(frozen=True)
class Caller:
    """Someone asking over real HTTP: from `address` (any of 127/8), with `token` or none."""

    token: str | None = None
    address: str = "127.0.0.1"

    async def ask(
        self, base: str, path: str = "/g_variants", **params: str
    ) -> tuple[int, dict[str, Any]]:
        headers = {} if self.token is None else {"Authorization": f"Bearer {self.token}"}
        connector = aiohttp.TCPConnector(local_addr=(self.address, 0))
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.get(f"{base}{path}", params=params, headers=headers) as response,
        ):
            body: dict[str, Any] = await response.json()
            return response.status, body

    async def answered(self, base: str, path: str = "/g_variants", **params: str) -> Any:
        status, body = await self.ask(base, path, **params)
        assert status == 200, body
        return body


ANONYMOUS = Caller()
ELSEWHERE = Caller(address="127.0.0.2")
"""An anonymous caller from another address."""

# --- servers -------------------------------------------------------------------------------


class Reserved:
    """A listening address bound now, served later: its URL is known before its app exists."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"

    def factory(self, host: str, port: int, family: socket.AddressFamily) -> socket.socket:
        return self.socket


class Servers:
    """Apps served over real HTTP on 127.0.0.1 (on a reserved address when given), and the
    reserved addresses; all closed at teardown, servers first."""

    def __init__(self) -> None:
        self._servers: list[TestServer] = []
        self._reserved: list[Reserved] = []

    def reserve(self) -> Reserved:
        reserved = Reserved()
        self._reserved.append(reserved)
        return reserved

    async def __call__(self, app: web.Application, reserved: Reserved | None = None) -> str:
        """Serve `app`; its base URL."""
        if reserved is None:
            server = TestServer(app, host="127.0.0.1")
        else:
            server = TestServer(app, host="127.0.0.1", socket_factory=reserved.factory)
        self._servers.append(server)
        await server.start_server()
        return str(server.make_url("")).rstrip("/")

    async def close(self) -> None:
        for server in reversed(self._servers):
            await server.close()
        for reserved in self._reserved:  # a reserved address nothing came to serve
            reserved.socket.close()


@pytest.fixture
async def served() -> AsyncIterator[Servers]:
    """`await served(app, reserved=None)`: the app served, its base URL; `served.reserve()`."""
    servers = Servers()
    yield servers
    await servers.close()


@pytest.fixture
async def key_server() -> AsyncIterator[KeySetServer]:
    """IDP_A's, the outsider's and the visa issuer's key sets over real HTTP."""
    k = keys()
    documents = {
        "a.json": key_set(k.a),
        "outsider.json": key_set(k.outsider),
        "visas.json": key_set(k.visas),
    }
    server = KeySetServer(documents)
    await server.start()
    yield server
    await server.close()


def jku(key_server: KeySetServer) -> str:
    return f"{key_server.base}/visas.json"


def visa_issuers(key_server: KeySetServer) -> tuple[VisaIssuer, ...]:
    return (VisaIssuer(VISAS, jku(key_server), GRANTING),)


def aggregator_settings(settings: Settings, key_server: KeySetServer, verify: bool) -> Settings:
    """The aggregator's settings: verifying callers' IDP_A tokens and visas (`verify`), or
    without `[access]` (every caller anonymous)."""
    access = AccessConfig(
        NETWORK, (Issuer(IDP_A, f"{key_server.base}/a.json"),), visa_issuers(key_server)
    )
    info = BeaconInfo(id="eu.network", name="EU network")
    return replace(settings, info=info, access=access if verify else None)


AggregatorFactory = Callable[..., Awaitable[str]]


@pytest.fixture
def signing_aggregator(
    settings: Settings, key_server: KeySetServer, served: Servers
) -> AggregatorFactory:
    """`await signing_aggregator(members, reserved=None, verify=True, **network)`: a real aggregator
    with the session's key as its signer; its base URL."""

    async def start(
        members: list[Member],
        reserved: Reserved | None = None,
        *,
        verify: bool = True,
        **options: Any,
    ) -> str:
        options.setdefault("signer", signer())
        network = NetworkConfig(members=tuple(members), **options)
        app = create_aggregator_app(aggregator_settings(settings, key_server, verify), network)
        return await served(app, reserved)

    return start


# --- recording members ---------------------------------------------------------------------


def recording_member(
    beacon_id: str, datasets: dict[str, str | None], recorder: Recorder
) -> web.Application:
    """A member listing `datasets` (id -> the grant URL it shows, if any), versioned, and
    answering every query with each of them finding 3, at the granularity asked; `recorder`
    logs every request's headers."""
    meta = {"beaconId": beacon_id, "apiVersion": "v2.0.0", "returnedGranularity": "boolean"}
    collections = [
        {"id": d, "name": d, "version": "r1", **({"info": {"accessGrant": g}} if g else {})}
        for d, g in datasets.items()
    ]

    async def handler(request: web.Request) -> web.Response:
        if request.path == "/datasets":
            return web.json_response({"meta": meta, "response": {"collections": collections}})
        if request.path in ("/info", "/map"):
            return web.json_response({"meta": meta, "response": {}})
        if request.method == "POST":
            label = (await request.json())["query"]["requestedGranularity"]
        else:
            label = request.query.get("requestedGranularity", "boolean")
        asked = Granularity.parse(label)
        return web.json_response(node_body(beacon_id, dict.fromkeys(datasets, 3), asked=asked))

    app = everywhere(handler)
    app.middlewares.append(recorder.middleware)
    return app


@dataclass(frozen=True)
class Recorded:
    """Two recording members behind a real aggregator: a (default audience: its URL, dataset
    a-ds granted by DATASET) and b (audience set, dataset b-ds granted by OTHER_DATASET)."""

    aggregator: str
    a: Recorder
    b: Recorder
    a_url: str
    b_url: str
    jku: str

    def tokens(self, recorder: Recorder) -> list[str]:
        """The bearer token of every query the member received, in order."""
        found = [bearer_of(headers) for headers in recorder.queries()]
        assert all(found), "a query reached a member without a token"
        return [t for t in found if t]

    async def jwks(self) -> dict[str, Any]:
        """The aggregator's key set, as a member reads it."""
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{self.aggregator}{JWKS_PATH}") as response,
        ):
            assert response.status == 200
            assert response.headers["Cache-Control"] == "max-age=300"
            found: dict[str, Any] = await response.json()
            return found


B_AUDIENCE = "https://beacon.example/b"

RecordedFactory = Callable[..., Awaitable[Recorded]]


@pytest.fixture
def recorded(
    served: Servers, signing_aggregator: AggregatorFactory, key_server: KeySetServer
) -> RecordedFactory:
    """`await recorded(verify=True, b_claims=None, **network)`: recording members a and b, their
    aggregator; `b_claims` is a grant URL b lists for its open dataset too."""

    async def start(
        *, verify: bool = True, b_claims: str | None = None, **options: Any
    ) -> Recorded:
        a, b = Recorder(), Recorder()
        a_url = await served(recording_member("a.beacon", {"a-ds": DATASET}, a))
        b_url = await served(
            recording_member("b.beacon", {"b-ds": OTHER_DATASET, "b-open": b_claims}, b)
        )
        members = [
            Member("a", "SE", "member a", a_url),
            Member("b", "FI", "member b", b_url, audience=B_AUDIENCE),
        ]
        url = await signing_aggregator(members, verify=verify, **options)
        return Recorded(url, a, b, a_url, b_url, jku(key_server))

    return start


def _verified(token: str, jwks: dict[str, Any], audience: str) -> dict[str, Any]:
    """The token's claims, verified with nothing but the aggregator's published key set."""
    kid = jwt.get_unverified_header(token)["kid"]
    [jwk] = [k for k in jwks["keys"] if k["kid"] == kid]
    claims: dict[str, Any] = jwt.decode(
        token,
        jwt.PyJWK(jwk),
        algorithms=["ES256"],
        audience=audience,
        issuer=AGGREGATOR,
        options={"require": ["exp", "iat", "iss", "sub", "aud"]},
    )
    return claims


COUNT_QUERY = {"referenceName": "22", "start": "99", "referenceBases": "A", "alternateBases": "G"}


async def test_the_callers_token_never_reaches_a_member(recorded: RecordedFactory) -> None:
    """Whatever the caller sends, members get the aggregator's tokens: none of the caller's
    token, at any path (queries, /g_variants/{id}, /individuals, the aggregator's own reads)."""
    net = await recorded()
    passport = [*bona_fide_visas(net.jku), grant(DATASET, net.jku)]
    alice = Caller(caller_token("alice", *passport))
    for path, params in [
        ("/g_variants", {**COUNT_QUERY, "requestedGranularity": "count"}),
        ("/individuals", {**COUNT_QUERY, "requestedGranularity": "count"}),
        ("/g_variants/22_99_A_G", {"requestedGranularity": "count"}),
        ("/g_variants", COUNT_QUERY),
    ]:
        body = await alice.answered(net.aggregator, path, **params)
        assert {line["status"] for line in body["info"]["members"]} == {"ok"}, body
    assert alice.token is not None
    signature = alice.token.rsplit(".", 1)[1]
    for recorder in (net.a, net.b):
        assert len(recorder.queries()) == 4
        for path, headers in recorder.requests:
            text = json.dumps(headers)
            assert alice.token not in text and signature not in text, path
            token = bearer_of(headers)
            if path.startswith(("/g_variants", "/individuals")):
                assert token is not None and claims_of(token)["iss"] == AGGREGATOR
            else:  # the aggregator's own reads of /info, /map, /datasets: no token configured
                assert token is None, path


async def test_each_member_gets_its_own_verifiable_token(recorded: RecordedFactory) -> None:
    """aud the member (its URL by default, else its `audience`), sub the caller's pseudonym,
    exactly the standard claims, verified against the aggregator's JWKS served over HTTP."""
    net = await recorded()
    alice = Caller(caller_token("alice", *bona_fide_visas(net.jku)))
    started = int(time.time())
    await alice.answered(net.aggregator, **COUNT_QUERY, requestedGranularity="count")
    jwks = await net.jwks()
    assert [k["kid"] for k in jwks["keys"]] == [signer().kid]
    assert not {"d", "x5c"} & set(jwks["keys"][0])
    for recorder, audience in ((net.a, net.a_url), (net.b, B_AUDIENCE)):
        [token] = net.tokens(recorder)
        claims = _verified(token, jwks, audience)
        assert set(claims) == {*TOKEN_CLAIMS, "ga4gh_passport_v1"}
        assert (claims["iss"], claims["sub"], claims["aud"]) == (AGGREGATOR, ALICE, audience)
        assert started - 1 <= claims["iat"] <= time.time()
        assert claims["exp"] - claims["iat"] == 60
        with pytest.raises(jwt.InvalidAudienceError):  # not usable at the other member
            _verified(token, jwks, B_AUDIENCE if audience == net.a_url else net.a_url)
    # Another key does not verify them.
    other = Signer(AGGREGATOR, ec.generate_private_key(ec.SECP256R1())).jwks()
    other["keys"][0]["kid"] = signer().kid
    with pytest.raises(jwt.InvalidSignatureError):
        _verified(net.tokens(net.a)[0], other, net.a_url)


async def test_visas_go_only_where_they_can_be_used(recorded: RecordedFactory) -> None:
    """Bona fide visas to every member; a grant for a's dataset to a only, b's to b only; a
    grant no member lists to nobody; visas that did not verify at the aggregator to nobody."""
    net = await recorded()
    terms, status = bona_fide_visas(net.jku)
    for_a, for_b, for_nobody = (grant(g, net.jku) for g in (DATASET, OTHER_DATASET, NOBODYS_GRANT))
    self_granted = grant(DATASET, net.jku, by="self")  # dropped: a grant must be a dac's
    outsider = visa("ResearcherStatus", "x", signer=keys().outsider, jku=net.jku, by="so")
    passport = [terms, for_nobody, status, self_granted, for_a, outsider, for_b]
    await Caller(caller_token("alice", *passport)).answered(
        net.aggregator, **COUNT_QUERY, requestedGranularity="count"
    )
    [to_a], [to_b] = net.tokens(net.a), net.tokens(net.b)
    assert claims_of(to_a)["ga4gh_passport_v1"] == [terms, status, for_a]
    assert claims_of(to_b)["ga4gh_passport_v1"] == [terms, status, for_b]


async def test_a_grant_two_members_list_goes_to_neither(recorded: RecordedFactory) -> None:
    """b lists a's grant URL as well: a member claiming another's dataset must not collect the
    users' grant visas for it, so that grant goes to no member (bona fide visas still do)."""
    net = await recorded(b_claims=DATASET)
    terms, status = bona_fide_visas(net.jku)
    for_a = grant(DATASET, net.jku)
    await Caller(caller_token("alice", terms, status, for_a)).answered(
        net.aggregator, **COUNT_QUERY, requestedGranularity="count"
    )
    [to_a], [to_b] = net.tokens(net.a), net.tokens(net.b)
    assert claims_of(to_a)["ga4gh_passport_v1"] == [terms, status]
    assert claims_of(to_b)["ga4gh_passport_v1"] == [terms, status]


async def test_without_visas_no_passport_claim(recorded: RecordedFactory) -> None:
    """A signed-in caller without visas (or with none a member can use) sends no passport."""
    net = await recorded()
    await Caller(caller_token("alice")).answered(net.aggregator, **COUNT_QUERY)
    await Caller(caller_token("bob", grant(NOBODYS_GRANT, net.jku))).answered(
        net.aggregator, **COUNT_QUERY
    )
    for recorder in (net.a, net.b):
        subs = [claims_of(t)["sub"] for t in net.tokens(recorder)]
        assert subs == [ALICE, BOB]
        assert all(set(claims_of(t)) == TOKEN_CLAIMS for t in net.tokens(recorder))


async def test_anonymous_callers_get_stable_anonymous_subjects(recorded: RecordedFactory) -> None:
    """`anonymous:` and 32 hex digits: the same for the same client (at every member and on
    every request), another for another address, never the address itself; no visas."""
    net = await recorded(cache_entries=0)
    for caller in (ANONYMOUS, ANONYMOUS, ELSEWHERE, ANONYMOUS):
        await caller.answered(net.aggregator, **COUNT_QUERY)
    subs = {
        name: [claims_of(t)["sub"] for t in net.tokens(recorder)]
        for name, recorder in (("a", net.a), ("b", net.b))
    }
    here, there = subs["a"][0], subs["a"][2]
    assert subs["a"] == subs["b"] == [here, here, there, here]
    assert here != there
    for sub in (here, there):
        assert sub.startswith("anonymous:") and len(sub) == len("anonymous:") + 32
        assert "127.0.0" not in sub
    assert all(set(claims_of(t)) == TOKEN_CLAIMS for t in net.tokens(net.a))


async def test_a_callers_token_is_ignored_without_access(recorded: RecordedFactory) -> None:
    """An aggregator without `[access]` reads no token: the caller is anonymous to members
    (by address), and their token goes nowhere."""
    net = await recorded(verify=False, cache_entries=0)
    token = caller_token("alice", *bona_fide_visas(net.jku))
    await Caller(token).answered(net.aggregator, **COUNT_QUERY)
    await ANONYMOUS.answered(net.aggregator, **COUNT_QUERY)
    [with_token, without] = [claims_of(t) for t in net.tokens(net.a)]
    assert with_token["sub"] == without["sub"] and with_token["sub"].startswith("anonymous:")
    assert "ga4gh_passport_v1" not in with_token
    assert all(token not in json.dumps(h) for _, h in net.a.requests + net.b.requests)


async def test_a_bad_token_is_refused_before_any_member_is_asked(
    recorded: RecordedFactory,
) -> None:
    net = await recorded()
    for token in (
        caller_token(aud=MEMBER_AUDIENCE),  # meant for a member, not the aggregator
        tampered(caller_token(), sub="bob"),
        access_token(keys().outsider, aud=NETWORK),
    ):
        status, body = await Caller(token).ask(net.aggregator, **COUNT_QUERY)
        assert status == 401, body
    assert net.a.queries() == [] and net.b.queries() == []


async def test_a_token_is_reused_and_signed_in_answers_never_cached(
    recorded: RecordedFactory,
) -> None:
    """Every signed-in request reaches the members (their budgets there are theirs), with the
    token minted for that caller and member reused while fresh; anonymous callers share
    cached answers."""
    net = await recorded()
    alice = Caller(caller_token("alice", *bona_fide_visas(net.jku)))
    bob = Caller(caller_token("bob", *bona_fide_visas(net.jku)))
    query = {**COUNT_QUERY, "requestedGranularity": "count"}
    for caller in (alice, bob, alice):
        body = await caller.answered(net.aggregator, **query)
        assert not any(line.get("cached") for line in body["info"]["members"]), body
    for recorder in (net.a, net.b):
        first, second, third = net.tokens(recorder)
        assert [claims_of(t)["sub"] for t in (first, second, third)] == [ALICE, BOB, ALICE]
        assert third == first and second != first
    # Anonymous: the second caller (another address) is answered from the cache.
    for caller in (ANONYMOUS, ELSEWHERE):
        await caller.answered(net.aggregator, **query)
    assert len(net.a.queries()) == len(net.b.queries()) == 4
    assert claims_of(net.tokens(net.a)[3])["sub"].startswith("anonymous:")


# --- a real member node trusting the aggregator ---------------------------------------------


# Three datasets, one per tier, each holding 1-100-A-G (carried by s1 and s2) and one of its own.


@dataclass(frozen=True)
class Network:
    """A real member node (`member`, with a Recorder) behind a real aggregator."""

    aggregator: str
    member: str
    recorder: Recorder
    jku: str

    def alice(self, *passport: str, aud: str = NETWORK) -> Caller:
        return Caller(caller_token("alice", *passport, aud=aud))

    def bona_fide(self, sub: str = "alice", aud: str = NETWORK) -> Caller:
        return Caller(caller_token(sub, *bona_fide_visas(self.jku), aud=aud))

    def direct(self, caller: Caller) -> Caller:
        """The same person asking the member directly (their token for the member)."""
        assert caller.token is not None
        return Caller(for_member(caller.token), caller.address)

    async def through(self, caller: Caller, path: str = "/g_variants", **params: str) -> Any:
        """The aggregator's answer, which must list the member as answered."""
        body = await caller.answered(self.aggregator, path, **params)
        assert member_lines(body)["se"]["status"] == "ok", body
        return body


def for_member(token: str) -> str:
    """A token of the same IDP_A user with the same visas, for the member's audience."""
    claims = claims_of(token)
    return access_token(
        sub=claims["sub"],
        aud=MEMBER_AUDIENCE,
        **(
            {"ga4gh_passport_v1": claims["ga4gh_passport_v1"]}
            if "ga4gh_passport_v1" in claims
            else {}
        ),
    )


def member_settings(
    settings: Settings, key_server: KeySetServer, aggregator: str, protection: Protection
) -> Settings:
    """The member's `[access]`: IDP_A's callers directly, and the aggregator as a delegating
    issuer whose keys are read from its real /.well-known/jwks.json."""
    access = AccessConfig(
        MEMBER_AUDIENCE,
        (
            Issuer(IDP_A, f"{key_server.base}/a.json"),
            Issuer(AGGREGATOR, f"{aggregator}{JWKS_PATH}", ("ES256",), delegating=True),
        ),
        visa_issuers(key_server),
    )
    info = BeaconInfo(id="se.beacon", name="se beacon")
    return replace(settings, info=info, access=access, policy=POLICY, protection=protection)


GATED = Protection(gate=True, noise=False, rate_per_minute=0, count_min_frequency=0.0)
"""The PUBLIC gate on (no reference frequencies are loaded: rare to PUBLIC callers), budgets
on, no noise (counts as they are), no request limit."""

NetworkFactory = Callable[..., Awaitable[Network]]


@pytest.fixture
async def network(
    settings: Settings,
    ingest: Ingest,
    tmp_path: Path,
    key_server: KeySetServer,
    served: Servers,
    signing_aggregator: AggregatorFactory,
) -> NetworkFactory:
    """`await network(protection=GATED, **network_options)`: the member node holding open, reg
    and ctl, trusting the aggregator started on the reserved address in front of it (k = 1)."""
    for dataset in OWN:
        await ingest(write_vcf(tmp_path / f"{dataset}.vcf", _rows(dataset)), dataset)

    async def start(protection: Protection = GATED, **options: Any) -> Network:
        reserved = served.reserve()
        app = create_node_app(member_settings(settings, key_server, reserved.url, protection))
        recorder = Recorder()
        app.middlewares.append(recorder.middleware)
        member = await served(app)
        options.setdefault("k", 1)
        se = Member("se", "SE", "Sweden", member, audience=MEMBER_AUDIENCE)
        url = await signing_aggregator([se], reserved, **options)
        assert url == reserved.url
        return Network(url, member, recorder, jku(key_server))

    return start


def _sets(body: dict[str, Any]) -> dict[str, int]:
    """Per dataset id: its resultsCount (count and record answers)."""
    return {s["id"]: s["resultsCount"] for s in body.get("response", {}).get("resultSets", [])}


async def test_a_bona_fide_caller_gets_the_registered_answer(network: NetworkFactory) -> None:
    """Through the aggregator as directly: counts of the PUBLIC and REGISTERED datasets (not
    the CONTROLLED one), at count granularity."""
    net = await network()
    caller = net.bona_fide()
    query = {**SHARED, "requestedGranularity": "count"}
    body = await net.through(caller, **query)
    direct = await net.direct(caller).answered(net.member, **query)
    assert direct["meta"]["returnedGranularity"] == "count"
    assert _sets(direct) == {"open": 1, "reg": 1}
    assert body["meta"]["returnedGranularity"] == "count"
    assert _sets(body) == {"open": 1, "reg": 1}
    line = member_lines(body)["se"]
    assert (line["exists"], line["count"]) == (True, 2)
    # The allele only reg holds is found; the one only ctl holds is not searched.
    assert _sets(await net.through(caller, **_own("reg"), requestedGranularity="count")) == {
        "reg": 1
    }
    ctl = await net.through(caller, **_own("ctl"), requestedGranularity="count")
    assert ctl["responseSummary"]["exists"] is False and "ctl" not in _sets(ctl)


async def test_an_anonymous_caller_gets_the_public_answer(network: NetworkFactory) -> None:
    """Only the PUBLIC dataset, boolean at most, and the gate withholds a rare allele (no
    reference frequencies are loaded), as for an anonymous caller asking directly."""
    net = await network()
    for requested in ("boolean", "count"):
        direct = await ANONYMOUS.answered(net.member, **SHARED, requestedGranularity=requested)
        assert direct["meta"]["returnedGranularity"] == "boolean"
        assert direct["responseSummary"]["exists"] is False
        assert direct["info"]["notAnswerable"]["datasets"] == ["open"]
        body = await net.through(ANONYMOUS, **SHARED, requestedGranularity=requested)
        assert body["responseSummary"]["exists"] is False, body
        line = member_lines(body)["se"]
        assert line["exists"] is False
        assert line["withheld"] == ["notAnswerable"]  # held back, not "none found"
        assert "count" not in line  # never an exact 0 for what the member did not tell
        assert body["info"]["notAnswerable"]["members"] == ["se"]
        assert _sets(body) == {}
    status, body = await ANONYMOUS.ask(net.aggregator, **SHARED, datasetIds="reg")
    assert status == 200
    assert member_lines(body)["se"]["status"] == "unauthorized", body


async def test_an_anonymous_caller_without_the_gate(network: NetworkFactory) -> None:
    """With the gate off, PUBLIC answers are booleans of the open dataset only."""
    net = await network(
        Protection(gate=False, noise=False, rate_per_minute=0, count_min_frequency=0.0)
    )
    body = await net.through(ANONYMOUS, **SHARED, requestedGranularity="count")
    assert member_lines(body)["se"]["exists"] is True
    assert body["responseSummary"]["exists"] is True
    assert not (await net.through(ANONYMOUS, **_own("reg")))["responseSummary"]["exists"]
    assert (await net.through(ANONYMOUS, **_own("open")))["responseSummary"]["exists"]


async def test_a_controlled_grant_works_through_the_aggregator(network: NetworkFactory) -> None:
    """A DATASET grant reaches the member and opens ctl there; bona fide alone does not."""
    net = await network()
    granted = net.alice(*bona_fide_visas(net.jku), grant(DATASET, net.jku))
    params = {**_own("ctl"), "datasetIds": "ctl", "requestedGranularity": "record"}
    body = await net.through(granted, **params)
    assert body["meta"]["returnedGranularity"] == "record"
    [result_set] = body["response"]["resultSets"]
    assert (result_set["id"], result_set["resultsCount"], len(result_set["results"])) == (
        "ctl",
        1,
        1,
    )
    status, refused = await net.bona_fide().ask(net.aggregator, **params)
    assert status == 200
    line = member_lines(refused)["se"]
    assert (line["status"], line["httpStatus"]) == ("unauthorized", 403), refused
    assert "ctl" not in _sets(refused)


async def test_one_ledger_account_directly_and_through_the_aggregator(
    network: NetworkFactory, mongo: AsyncMongoClient[dict[str, Any]], settings: Settings
) -> None:
    """The member's privacy ledger knows alice by one pseudonym whichever way she asks: what
    she was told directly is told again through the aggregator without charging again."""
    net = await network()
    alice = net.bona_fide()
    ledger = mongo[settings.db_name][LEDGER]

    async def accounts() -> dict[str, dict[str, Any]]:
        return {doc["_id"]: doc async for doc in ledger.find({})}

    async def reg_counts() -> int:
        [(key, doc)] = [(k, d) for k, d in (await accounts()).items() if "|reg|" in k]
        assert key.startswith(f"{ALICE}|reg|")
        return int(doc["counts"])

    first = {**_own("reg"), "requestedGranularity": "count"}
    second = {**SHARED, "requestedGranularity": "count"}
    direct = await net.direct(alice).answered(net.member, **first)
    assert _sets(direct) == {"reg": 1}
    assert await reg_counts() == 1
    assert _sets(await net.through(alice, **first)) == {"reg": 1}
    assert await reg_counts() == 1  # the same account: already told, not counted again
    await net.through(alice, **second)
    assert await reg_counts() == 2
    await net.direct(alice).answered(net.member, **second)
    assert await reg_counts() == 2
    assert {key.split("|")[0] for key in await accounts()} == {ALICE}
    # Bob, through the aggregator, has an account of his own.
    await net.through(net.bona_fide("bob"), **first)
    assert {key.split("|")[0] for key in await accounts()} == {ALICE, BOB}


async def ledger_subjects(mongo: AsyncMongoClient[dict[str, Any]], db: str) -> set[str]:
    """Whose accounts the member's privacy ledger holds."""
    return {doc["_id"].split("|")[0] async for doc in mongo[db][LEDGER].find({})}


async def test_an_idp_cannot_claim_a_pseudonym(
    network: NetworkFactory, mongo: AsyncMongoClient[dict[str, Any]], settings: Settings
) -> None:
    """A direct IDP_A token whose sub is alice's pseudonym is hashed like any other sub: only
    the delegating aggregator's `sub` is taken as it is."""
    net = await network()
    query = {**_own("reg"), "requestedGranularity": "count"}
    await net.through(net.bona_fide(), **query)
    impostor = Caller(caller_token(ALICE, *bona_fide_visas(net.jku), aud=MEMBER_AUDIENCE))
    await impostor.answered(net.member, **query)
    assert await ledger_subjects(mongo, settings.db_name) == {ALICE, pseudonym(IDP_A, ALICE)}


def delegated(sub: Any = ALICE, **changes: Any) -> dict[str, Any]:
    """Claims of a token the aggregator would mint for the member."""
    at = int(time.time())
    found = {"iss": AGGREGATOR, "sub": sub, "aud": MEMBER_AUDIENCE, "iat": at, "exp": at + 60}
    found.update(changes)
    return {k: v for k, v in found.items() if v is not None}


def signed(claims: dict[str, Any], key: Any = None, kid: str | None = None) -> str:
    """Signed with the aggregator's key (or `key`), naming the aggregator's kid (or `kid`)."""
    return jwt.encode(
        claims, key or aggregator_key(), algorithm="ES256", headers={"kid": kid or signer().kid}
    )


async def test_the_aggregators_own_token_is_accepted(network: NetworkFactory) -> None:
    """The control for the refusals below: a token as the aggregator mints it, sent straight
    to the member, is alice (REGISTERED with her visas)."""
    net = await network()
    token = signer().mint(ALICE, MEMBER_AUDIENCE, bona_fide_visas(net.jku), time.time())
    body = await Caller(token).answered(net.member, **_own("reg"), requestedGranularity="count")
    assert _sets(body) == {"reg": 1}
    anonymous = signer().mint("anonymous:" + "ab" * 16, MEMBER_AUDIENCE, [], time.time())
    await Caller(anonymous).answered(net.member, **SHARED)


OTHER_KEY = ec.generate_private_key(ec.SECP256R1())

FORGED: dict[str, Callable[[], str]] = {
    "tampered-sub": lambda: tampered(signed(delegated()), sub=BOB),
    "tampered-visas": lambda: tampered(signed(delegated()), ga4gh_passport_v1=["x"]),
    "another-key-same-kid": lambda: signed(delegated(), OTHER_KEY),
    "another-key-own-kid": lambda: Signer(AGGREGATOR, OTHER_KEY).mint(
        ALICE, MEMBER_AUDIENCE, [], time.time()
    ),
    "idp-key-as-aggregator": lambda: jwt.encode(
        delegated(), keys().a.private, algorithm="RS256", headers={"kid": keys().a.kid}
    ),
    "another-members-audience": lambda: signed(delegated(aud="https://beacon.example/fi")),
    "expired": lambda: signed(delegated(iat=int(time.time()) - 600, exp=int(time.time()) - 300)),
    "no-exp": lambda: signed(delegated(exp=None)),
    "another-issuer-name": lambda: signed(delegated(iss=AGGREGATOR + "/")),
    "outsider-issuer": lambda: jwt.encode(
        delegated(iss=OUTSIDER), keys().outsider.private, "RS256", {"kid": keys().outsider.kid}
    ),
}


@pytest.mark.parametrize("make", list(FORGED.values()), ids=list(FORGED))
async def test_a_forged_delegated_token_is_refused(
    make: Callable[[], str], network: NetworkFactory
) -> None:
    net = await network()
    status, body = await Caller(make()).ask(net.member, **SHARED)
    assert status == 401, body
    assert body["error"]["errorCode"] == 401


NOT_PSEUDONYMS: dict[str, Any] = {
    "a-name": "alice",
    "uppercase-hex": ALICE.upper(),
    "31-hex": ALICE[:31],
    "33-hex": ALICE + "0",
    "hex-with-a-space": ALICE[:31] + " ",
    "anonymous-31-hex": "anonymous:" + ALICE[:31],
    "other-prefix": "user:" + ALICE,
    "anonymous-capitalised": "Anonymous:" + ALICE,
    "anonymous-alone": "anonymous:",
    "empty": "",
    "a-number": 12345678901234567890123456789012,
    "trailing-newline": ALICE + "\n",
    "anonymous-trailing-newline": "anonymous:" + ALICE + "\n",
}


@pytest.mark.parametrize("sub", list(NOT_PSEUDONYMS.values()), ids=list(NOT_PSEUDONYMS))
async def test_a_delegated_token_whose_sub_is_not_a_pseudonym_is_refused(
    sub: Any, network: NetworkFactory
) -> None:
    """The sub must be 32 hex digits, optionally after `anonymous:`: anything else is a 401,
    so a delegating issuer cannot mint a subject a person's direct pseudonym could never be."""
    net = await network()
    status, body = await Caller(signed(delegated(sub))).ask(net.member, **SHARED)
    assert status == 401, body


async def test_signed_in_answers_always_reach_the_member(network: NetworkFactory) -> None:
    """Two people asking the same through the aggregator are both asked about at the member;
    two anonymous callers share the aggregator's cached answer."""
    net = await network(
        Protection(gate=False, noise=False, rate_per_minute=0, count_min_frequency=0.0)
    )
    query = {**SHARED, "requestedGranularity": "count"}
    await net.through(net.bona_fide("alice"), **query)
    await net.through(net.bona_fide("bob"), **query)
    assert len(net.recorder.queries()) == 2
    await net.through(ANONYMOUS, **query)
    body = await net.through(ELSEWHERE, **query)
    assert member_lines(body)["se"].get("cached") is True, body
    assert len(net.recorder.queries()) == 3


async def test_member_request_limits_follow_each_caller(network: NetworkFactory) -> None:
    """The member limits each person behind the aggregator, not the aggregator: alice spends
    her own requests (directly or not), bob and anonymous callers have their own."""
    net = await network(
        Protection(gate=False, noise=False, rate_per_minute=3, count_min_frequency=0.0),
        cache_entries=0,
    )
    alice, bob = net.bona_fide("alice"), net.bona_fide("bob")
    for _ in range(2):
        await net.through(alice, **SHARED)
    await net.direct(alice).answered(net.member, **SHARED)
    status, body = await alice.ask(net.aggregator, **SHARED)
    assert status == 200
    line = member_lines(body)["se"]
    assert (line["status"], line["httpStatus"]) == ("http_error", 429), body
    status, body = await net.direct(alice).ask(net.member, **SHARED)
    assert status == 429, body
    await net.through(bob, **SHARED)
    for _ in range(3):
        await net.through(ANONYMOUS, **SHARED)
    status, body = await ANONYMOUS.ask(net.aggregator, **SHARED)
    assert member_lines(body)["se"]["httpStatus"] == 429, body
    await net.through(ELSEWHERE, **SHARED)


# --- reload ----------------------------------------------------------------------------------


async def test_a_reload_changing_the_signing_key_takes_effect_or_says_so(
    served: Servers,
    aggregator_from_file: FileAggregatorFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A new `signing_key_file` and `issuer` (a key rotated after a leak, say) either signs
    the next tokens and is published, or is logged as needing a restart, as other settings
    built once at start are: never silently ignored."""
    caplog.set_level(logging.WARNING, logger="beacon.aggregator.registry")
    recorder = Recorder()
    member = await served(recording_member("a.beacon", {"a-ds": None}, recorder))
    old_key, new_key = aggregator_key(), ec.generate_private_key(ec.SECP256R1())
    for name, key in (("old.pem", old_key), ("new.pem", new_key)):
        (tmp_path / name).write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    def config(key_file: str, issuer: str) -> str:
        signing = f'[network]\nsigning_key_file = "{key_file}"\nissuer = "{issuer}"\n'
        return toml([("se", member)]).replace("[network]\n", signing + "cache_entries = 0\n", 1)

    path = tmp_path / "network.toml"
    path.write_text(config("old.pem", AGGREGATOR))
    client = await aggregator_from_file(path)
    await get(client, params=COUNT_QUERY)
    assert claims_of(bearer_of(recorder.queries()[-1]) or "")["iss"] == AGGREGATOR
    rewrite(path, config("new.pem", "https://aggregator-2.example"))

    async def reloaded() -> bool:
        return any(r.getMessage() == "members reloaded" for r in caplog.records)

    await eventually(reloaded)
    await get(client, params=COUNT_QUERY)
    token = bearer_of(recorder.queries()[-1]) or ""
    published = [k["kid"] for k in (await get(client, JWKS_PATH))["keys"]]
    new_kid = Signer("https://aggregator-2.example", new_key).kid
    applied = (
        claims_of(token)["iss"] == "https://aggregator-2.example"
        and jwt.get_unverified_header(token)["kid"] == new_kid
        and new_kid in published
    )
    said = [
        r
        for r in caplog.records
        if r.getMessage() == "these settings change only on restart"
        and "sign" in str(getattr(r, "kept", ""))
    ]
    assert applied or said, (
        f"after the reload: tokens still name {claims_of(token)['iss']!r}, signed with kid "
        f"{jwt.get_unverified_header(token)['kid']!r}; JWKS publishes {published}; no warning"
    )
