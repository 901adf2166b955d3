"""Access tiers per dataset at a node over real HTTP: three datasets holding the same allele, one
per tier (open PUBLIC, reg REGISTERED, ctl CONTROLLED with a grant URL), asked by callers of every
kind at every granularity. Datasets above a caller's tier are never searched, naming one is a 401
(anonymous) or 403 (signed in), and one answer has the granularity of its coarsest dataset. Also
/datasets, /configuration and the `[access]` tier settings of the config file."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from beacon.auth import AccessPolicy, Principal, Tier
from beacon.config import Settings, load_settings
from beacon.node.app import create_node_app
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
from tests.official_schemas import assert_valid, assert_valid_answer
from tests.tier_data import OWN, POLICY, SHARED
from tests.tier_data import own as _own
from tests.tier_data import rows as _rows

Client = TestClient[Any, Any]
B, C, R = "boolean", "count", "record"
GRANULARITIES = [B, C, R]

# Every dataset holds 1-100-A-G (carried by s1 and s2) and one allele of its own.


# Each caller's Authorization header, given the visa issuer's pinned jku (None: no header).
CALLERS: dict[str, Callable[[str], str | None]] = {
    "anonymous": lambda jku: None,
    "signed-in": lambda jku: bearer(),
    "bona-fide": lambda jku: bearer(*bona_fide_visas(jku)),
    "granted": lambda jku: bearer(grant(DATASET, jku)),
    "granted-other": lambda jku: bearer(grant(OTHER_DATASET, jku)),
    "granted-by-self": lambda jku: bearer(grant(DATASET, jku, by="self")),
    "granted-by-id": lambda jku: bearer(grant("ctl", jku)),
    "bona-fide-granted": lambda jku: bearer(*bona_fide_visas(jku), grant(DATASET, jku)),
}

# The finest granularity each dataset allows each caller; None: above the caller's tier.
# granted-by-self: a grant not asserted by a dac is dropped. granted-by-id: the visa names the
# dataset id, but the operator set a grant URL for ctl.
SEES: dict[str, dict[str, str | None]] = {
    "anonymous": {"open": B, "reg": None, "ctl": None},
    "signed-in": {"open": B, "reg": None, "ctl": None},
    "bona-fide": {"open": C, "reg": C, "ctl": None},
    "granted": {"open": B, "reg": None, "ctl": R},
    "granted-other": {"open": B, "reg": None, "ctl": None},
    "granted-by-self": {"open": B, "reg": None, "ctl": None},
    "granted-by-id": {"open": B, "reg": None, "ctl": None},
    "bona-fide-granted": {"open": C, "reg": C, "ctl": R},
}
NAMED = [(caller, dataset) for caller in SEES for dataset in OWN]


def _visible(caller: str) -> dict[str, str]:
    return {d: g for d, g in SEES[caller].items() if g is not None}


def _coarsest(*labels: str) -> str:
    return min(Granularity.parse(label) for label in labels).label


@dataclass
class Node:
    """A node over real HTTP and the jku its visa issuer is pinned to."""

    client: Client
    jku: str

    async def ask(
        self, caller: str, path: str = "/g_variants", body: Any = None, **params: str
    ) -> tuple[ClientResponse, dict[str, Any]]:
        """GET with `params`, or POST `body` when given."""
        header = CALLERS[caller](self.jku)
        headers = {} if header is None else {"Authorization": header}
        if body is None:
            response = await self.client.get(path, params=params, headers=headers)
        else:
            response = await self.client.post(path, json=body, headers=headers)
        return response, json.loads(await response.text())

    async def answered(
        self, caller: str, path: str = "/g_variants", body: Any = None, **params: str
    ) -> Any:
        """A 200 answer, valid against the official schemas."""
        response, body = await self.ask(caller, path, body, **params)
        assert response.status == 200, body
        assert_valid_answer(body)
        return body

    async def refused(
        self, caller: str, refused: str, path: str = "/g_variants", body: Any = None, **params: str
    ) -> None:
        """401 with a bare Bearer challenge (anonymous) or 403 (signed in), naming `refused`,
        holding no data."""
        response, body = await self.ask(caller, path, body, **params)
        status = 401 if caller == "anonymous" else 403
        assert response.status == status, body
        _assert_error(body, status)
        named = body["error"]["errorMessage"].partition("dataset(s) ")[2]
        assert named.removesuffix(" need a signed-in caller") == refused
        challenge = response.headers.get("WWW-Authenticate")
        assert challenge == ('Bearer realm="beacon"' if status == 401 else None)


def _assert_error(body: dict[str, Any], status: int) -> None:
    assert_valid("error", body)
    assert set(body) == {"meta", "error"}
    assert body["error"]["errorCode"] == status


def _result_sets(body: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """Per dataset id: (resultsCount, number of records)."""
    return {s["id"]: (s["resultsCount"], len(s["results"])) for s in body["response"]["resultSets"]}


def _assert_shape(body: dict[str, Any], returned: str, counts: dict[str, int]) -> None:
    """Returned at `returned`; at count or record, result sets of exactly `counts`' datasets."""
    assert body["meta"]["returnedGranularity"] == returned
    assert body["responseSummary"]["exists"] is any(counts.values())
    if returned == B:
        assert "response" not in body
        assert "numTotalResults" not in body["responseSummary"]
        return
    assert body["responseSummary"]["numTotalResults"] == sum(counts.values())
    records = 1 if returned == R else 0
    assert _result_sets(body) == {d: (n, records * n) for d, n in counts.items() if n}


NodeFactory = Callable[..., Awaitable[Node]]


@pytest.fixture
async def node_with(
    settings: Settings, ingest: Ingest, tmp_path: Path, key_server: KeySetServer
) -> AsyncIterator[NodeFactory]:
    """`await node_with(policy, **settings)`: a node holding open, reg and ctl; with `[access]`
    (IDP_A, VISAS) unless `policy` is None."""
    for dataset in OWN:
        await ingest(write_vcf(tmp_path / f"{dataset}.vcf", _rows(dataset)), dataset)
    jku = f"{key_server.base}/visas.json"
    access = AccessConfig(
        AUDIENCE, (Issuer(IDP_A, f"{key_server.base}/a.json"),), (VisaIssuer(VISAS, jku, GRANTING),)
    )
    clients: list[Client] = []

    async def start(policy: AccessPolicy | None, **changes: Any) -> Node:
        if policy is not None:
            changes.update(access=access, policy=policy)
        client: Client = TestClient(
            TestServer(create_node_app(replace(settings, **changes)), host="127.0.0.1")
        )
        clients.append(client)
        await client.start_server()
        return Node(client, jku)

    yield start
    for client in reversed(clients):
        await client.close()


@pytest.fixture
async def tiered(node_with: NodeFactory) -> Node:
    return await node_with(POLICY)


@pytest.mark.parametrize("requested", GRANULARITIES)
@pytest.mark.parametrize("caller", list(SEES))
async def test_unnamed_query(caller: str, requested: str, tiered: Node) -> None:
    """Only the caller's datasets answer, at the coarsest granularity any of them allows."""
    body = await tiered.answered(caller, **SHARED, requestedGranularity=requested)
    visible = _visible(caller)
    _assert_shape(body, _coarsest(requested, *visible.values()), dict.fromkeys(visible, 1))


@pytest.mark.parametrize("caller", list(SEES))
async def test_datasets_above_the_tier_are_not_searched(caller: str, tiered: Node) -> None:
    """An allele only a dataset above the caller's tier holds is not found, at any granularity."""
    visible = _visible(caller)
    ceiling = _coarsest(*visible.values())
    for dataset in OWN:
        for requested in GRANULARITIES:
            body = await tiered.answered(caller, **_own(dataset), requestedGranularity=requested)
            found = {dataset: 1} if dataset in visible else {}
            _assert_shape(body, _coarsest(requested, ceiling), found)


@pytest.mark.parametrize(("caller", "dataset"), NAMED)
async def test_named_dataset(caller: str, dataset: str, tiered: Node) -> None:
    """A named dataset answers at its own tier's granularity, or is refused without data."""
    allowed = SEES[caller][dataset]
    for requested in GRANULARITIES:
        params = {**SHARED, "datasetIds": dataset, "requestedGranularity": requested}
        if allowed is None:
            await tiered.refused(caller, dataset, **params)
            continue
        body = await tiered.answered(caller, **params)
        _assert_shape(body, _coarsest(requested, allowed), {dataset: 1})


@pytest.mark.parametrize(
    ("caller", "named", "refused", "returned"),
    [
        ("anonymous", "open,reg,ctl", "ctl, reg", None),
        ("bona-fide", "open,ctl", "ctl", None),
        ("granted", "open,reg,ctl", "reg", None),
        ("granted", "open,ctl", None, B),
        ("bona-fide-granted", "reg,ctl", None, C),
        ("bona-fide-granted", "open,reg,ctl", None, C),
    ],
)
async def test_several_named_datasets(
    caller: str, named: str, refused: str | None, returned: str, tiered: Node
) -> None:
    """One refused dataset refuses the whole request; else the coarsest named one decides."""
    params = {**SHARED, "datasetIds": named, "requestedGranularity": R}
    if refused is not None:
        await tiered.refused(caller, refused, **params)
        return
    body = await tiered.answered(caller, **params)
    _assert_shape(body, returned, dict.fromkeys(named.split(","), 1))


async def test_named_dataset_in_a_post_body(tiered: Node) -> None:
    """`requestParameters.datasets.datasetIds` is checked as the query string's is."""
    parameters = {**SHARED, "start": [99], "datasets": {"datasetIds": ["ctl"]}}
    body = {"meta": {}, "query": {"requestParameters": parameters, "requestedGranularity": R}}
    await tiered.refused("anonymous", "ctl", body=body)
    await tiered.refused("bona-fide", "ctl", body=body)
    _assert_shape(await tiered.answered("granted", body=body), R, {"ctl": 1})


@pytest.mark.parametrize("caller", list(SEES))
async def test_individuals_are_capped_at_count(caller: str, tiered: Node) -> None:
    """/individuals: the same datasets and ceilings, and never records (2 carriers each)."""
    visible = _visible(caller)
    for requested in GRANULARITIES:
        body = await tiered.answered(
            caller, "/individuals", **SHARED, requestedGranularity=requested
        )
        returned = _coarsest(requested, C, *visible.values())
        _assert_shape(body, returned, dict.fromkeys(visible, 2))
    for dataset, allowed in visible.items():
        body = await tiered.answered(
            caller, "/individuals", **SHARED, datasetIds=dataset, requestedGranularity=R
        )
        _assert_shape(body, _coarsest(C, allowed), {dataset: 2})
    for dataset in set(OWN) - set(visible):
        await tiered.refused(caller, dataset, "/individuals", **SHARED, datasetIds=dataset)


@pytest.mark.parametrize("caller", list(SEES))
async def test_variant_by_id(caller: str, tiered: Node) -> None:
    """/g_variants/{id} asks for records; it gets what the tiers allow."""
    visible = _visible(caller)
    body = await tiered.answered(caller, "/g_variants/1_99_A_G")
    _assert_shape(body, _coarsest(R, *visible.values()), dict.fromkeys(visible, 1))
    for dataset in OWN:
        if dataset in visible:
            body = await tiered.answered(caller, "/g_variants/1_99_A_G", datasetIds=dataset)
            _assert_shape(body, visible[dataset], {dataset: 1})
        else:
            await tiered.refused(caller, dataset, "/g_variants/1_99_A_G", datasetIds=dataset)


# Requests an anonymous caller gets answered.
OPEN_REQUESTS: dict[str, tuple[str, dict[str, str]]] = {
    "g_variants": ("/g_variants", SHARED),
    "g_variants-open": ("/g_variants", {**SHARED, "datasetIds": "open"}),
    "individuals-open": ("/individuals", {**SHARED, "datasetIds": "open"}),
    "variant-by-id": ("/g_variants/1_99_A_G", {}),
    "datasets": ("/datasets", {}),
    "configuration": ("/configuration", {}),
}


@pytest.mark.parametrize("request_", list(OPEN_REQUESTS))
@pytest.mark.parametrize(
    "token",
    [lambda: access_token(exp=1), lambda: "not-a-token", lambda: access_token(aud="elsewhere")],
    ids=["expired", "garbage", "wrong-audience"],
)
async def test_invalid_token_is_never_anonymous(
    request_: str, token: Callable[[], str], tiered: Node
) -> None:
    """A request an anonymous caller gets answered is a 401 with a bad token."""
    path, params = OPEN_REQUESTS[request_]
    response, body = await tiered.ask("anonymous", path, **params)
    assert response.status == 200, body
    headers = {"Authorization": f"Bearer {token()}"}
    response = await tiered.client.get(path, params=params, headers=headers)
    body = await response.json()
    assert response.status == 401, body
    _assert_error(body, 401)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="beacon", error="invalid_token"'


@pytest.mark.parametrize("caller", ["anonymous", "bona-fide-granted"])
async def test_datasets_lists_every_tier(caller: str, tiered: Node) -> None:
    """Every caller sees every dataset listed, with the tier it needs."""
    response, body = await tiered.ask(caller, "/datasets")
    assert response.status == 200, body
    assert_valid("collections", body)
    tiers = {c["id"]: c["info"]["accessTier"] for c in body["response"]["collections"]}
    assert tiers == {"open": "PUBLIC", "reg": "REGISTERED", "ctl": "CONTROLLED"}
    response, body = await tiered.ask(caller, "/datasets/ctl")
    assert response.status == 200, body
    assert_valid("collections", body)
    [collection] = body["response"]["collections"]
    assert collection["info"]["accessTier"] == "CONTROLLED"


@pytest.mark.parametrize(
    ("policy", "changes", "expected"),
    [
        (
            POLICY,
            {},
            {"defaultGranularity": B, "securityLevels": ["PUBLIC", "REGISTERED", "CONTROLLED"]},
        ),
        (
            AccessPolicy(enforced=True, levels={"reg": Tier.REGISTERED}),
            {},
            {"defaultGranularity": B, "securityLevels": ["PUBLIC", "REGISTERED"]},
        ),
        (
            AccessPolicy(
                enforced=True,
                default_level=Tier.CONTROLLED,
                granularity={
                    Tier.PUBLIC: Granularity.COUNT,
                    Tier.REGISTERED: Granularity.COUNT,
                    Tier.CONTROLLED: Granularity.RECORD,
                },
            ),
            {},
            {"defaultGranularity": C, "securityLevels": ["PUBLIC", "CONTROLLED"]},
        ),
        (
            replace(POLICY, granularity={t: Granularity.RECORD for t in Tier}),
            {"max_granularity": Granularity.COUNT},
            {"defaultGranularity": C, "securityLevels": ["PUBLIC", "REGISTERED", "CONTROLLED"]},
        ),
        (None, {}, {"defaultGranularity": B, "securityLevels": ["PUBLIC"]}),
    ],
    ids=["three-tiers", "two-tiers", "public-count", "beacon-max-count", "no-access"],
)
async def test_configuration_reports_the_tiers(
    policy: AccessPolicy | None,
    changes: dict[str, Any],
    expected: dict[str, Any],
    node_with: NodeFactory,
) -> None:
    """The tiers in use (PUBLIC always: anonymous callers are served) and what anonymous callers
    get, within the beacon's own ceiling."""
    node = await node_with(policy, **changes)
    response, body = await node.ask("anonymous", "/configuration")
    assert response.status == 200, body
    assert_valid("configuration", body)
    assert body["response"]["securityAttributes"] == expected


CUSTOM = AccessPolicy(
    enforced=True,
    default_level=Tier.REGISTERED,
    levels={"open": Tier.PUBLIC},
    granularity={
        Tier.PUBLIC: Granularity.COUNT,
        Tier.REGISTERED: Granularity.COUNT,
        Tier.CONTROLLED: Granularity.RECORD,
    },
)


@pytest.mark.parametrize(
    ("caller", "sees"),
    [
        ("anonymous", {"open": C}),
        ("bona-fide", {"open": C, "reg": C, "ctl": C}),
        # No grant URL is configured, so no visa can grant a dataset: not its bare id either
        # (that could be another beacon's dataset of the same name).
        ("granted-by-id", {"open": C}),
        ("granted", {"open": C}),
    ],
)
async def test_default_tier_grant_and_tier_granularity(
    caller: str, sees: dict[str, str], node_with: NodeFactory
) -> None:
    """Datasets not listed need `default_level`; a dataset without a grant URL cannot be
    granted; PUBLIC callers get count when the operator says so."""
    node = await node_with(CUSTOM)
    body = await node.answered(caller, **SHARED, requestedGranularity=R)
    _assert_shape(body, _coarsest(*sees.values()), dict.fromkeys(sees, 1))
    for dataset in OWN:
        if dataset in sees:
            body = await node.answered(caller, **SHARED, datasetIds=dataset, requestedGranularity=R)
            _assert_shape(body, sees[dataset], {dataset: 1})
        else:
            await node.refused(caller, dataset, **SHARED, datasetIds=dataset)


@pytest.mark.parametrize("caller", ["anonymous", "signed-in", "bona-fide-granted"])
async def test_node_without_access_has_no_tiers(caller: str, node_with: NodeFactory) -> None:
    """Every dataset, at record, to everyone; tokens are not read; no accessTier is shown."""
    node = await node_with(None)
    body = await node.answered(caller, **SHARED, requestedGranularity=R)
    _assert_shape(body, R, dict.fromkeys(OWN, 1))
    body = await node.answered(caller, **SHARED, datasetIds="ctl", requestedGranularity=R)
    _assert_shape(body, R, {"ctl": 1})
    body = await node.answered(caller, "/individuals", **SHARED, requestedGranularity=R)
    _assert_shape(body, C, dict.fromkeys(OWN, 2))
    response, body = await node.ask(caller, "/datasets")
    assert response.status == 200, body
    assert [c["info"].get("accessTier") for c in body["response"]["collections"]] == [None] * 3


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (Principal("s", grants=frozenset({DATASET})), Principal("s", True, frozenset({DATASET}))),
        (Principal(), Principal("s", True)),
        (Principal("s", True), Principal("s", grants=frozenset({DATASET}))),
    ],
    ids=["grant-with-and-without-bona-fide", "anonymous-bona-fide", "bona-fide-granted"],
)
def test_callers_with_other_rights_have_other_tier_keys(one: Principal, other: Principal) -> None:
    """`Principal.tier` keys cached answers: callers whose rights differ must not share one."""
    rights = [{d for d in OWN if POLICY.allows(p, d)} for p in (one, other)]
    assert rights[0] != rights[1]
    assert one.tier != other.tier


# The tier settings of the [access] section

ACCESS = """
[access]
audience = "https://beacon.example/se"
default_tier = "REGISTERED"

[[access.issuers]]
issuer = "https://idp-a.example"
jwks_url = "https://idp-a.example/jwks"

[access.tier_granularity]
PUBLIC = "count"
CONTROLLED = "count"

[access.datasets.open]
tier = "PUBLIC"

[access.datasets.ctl]
tier = "CONTROLLED"
grant = "https://datasets.example/tiny"

[access.datasets."by-grant.only"]
grant = "urn:example:grant"
"""


def test_access_tiers_in_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "beacon.toml"
    path.write_text(ACCESS)
    assert load_settings({}, path).policy == AccessPolicy(
        enforced=True,
        default_level=Tier.REGISTERED,
        levels={"open": Tier.PUBLIC, "ctl": Tier.CONTROLLED},
        grants={"ctl": DATASET, "by-grant.only": "urn:example:grant"},
        granularity={
            Tier.PUBLIC: Granularity.COUNT,
            Tier.REGISTERED: Granularity.COUNT,
            Tier.CONTROLLED: Granularity.COUNT,
        },
    )


def test_access_tier_defaults_in_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "beacon.toml"
    path.write_text(
        '[access]\naudience = "b"\n[[access.issuers]]\nissuer = "i"\njwks_url = "https://i/k"\n'
    )
    assert load_settings({}, path).policy == AccessPolicy(
        enforced=True,
        levels={},
        granularity={
            Tier.PUBLIC: Granularity.BOOLEAN,
            Tier.REGISTERED: Granularity.COUNT,
            Tier.CONTROLLED: Granularity.RECORD,
        },
    )
    assert not load_settings({}, None).policy.enforced
