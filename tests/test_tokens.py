"""Bearer tokens and GA4GH Passport visas (beacon.tokens): what is refused and why, what is
accepted and what it grants. Tokens are minted from keys generated in this test session; key sets
are read from a dict through the `fetch` a KeySets is given."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from beacon.tokens import (
    BONA_FIDE,
    AccessConfig,
    Identity,
    Issuer,
    KeySets,
    TokenError,
    VisaIssuer,
    identity_from_visas,
    verify_access_token,
    verify_visa,
)
from tests.auth_support import (
    AUDIENCE,
    BAD_TOKENS,
    DATASET,
    GRANTING,
    IDP_A,
    IDP_B,
    OTHER_DATASET,
    OUTSIDER,
    VISAS,
    KeySetDocuments,
    Signer,
    access_token,
    bona_fide_visas,
    claims,
    compact,
    hmac_with_public_key,
    key_set,
    keys,
    now,
    visa,
)

A_JWKS = "https://idp-a.example/jwks"
B_JWKS = "https://idp-b.example/jwks"
VISA_JKU = "https://visas.example/jwks"
OUTSIDER_JWKS = "https://outsider.example/jwks"
EVIL_JKU = "https://evil.example/jwks"

CONFIG = AccessConfig(
    AUDIENCE,
    (Issuer(IDP_A, A_JWKS), Issuer(IDP_B, B_JWKS)),
    (VisaIssuer(VISAS, VISA_JKU, GRANTING),),
)


@pytest.fixture
def documents() -> KeySetDocuments:
    """Every key set, the outsider's and an attacker's included (so a refusal is never merely a
    key set that cannot be read)."""
    k = keys()
    return KeySetDocuments(
        {
            A_JWKS: key_set(k.a),
            B_JWKS: key_set(k.b),
            VISA_JKU: key_set(k.visas),
            OUTSIDER_JWKS: key_set(k.outsider),
            EVIL_JKU: key_set(k.outsider),
        }
    )


@pytest.fixture
def key_sets(documents: KeySetDocuments) -> KeySets:
    return KeySets(documents)


def reason(caught: pytest.ExceptionInfo[TokenError]) -> str:
    # PyJWT's reasons are JSON-escaped by beacon.tokens; compare them without the escapes.
    return str(caught.value).replace("\\", "")


# Access tokens


@pytest.mark.parametrize("case", list(BAD_TOKENS))
async def test_refused(case: str, key_sets: KeySets) -> None:
    build, expected = BAD_TOKENS[case]
    token = build()
    with pytest.raises(TokenError) as caught:
        await verify_access_token(token, CONFIG, key_sets)
    assert expected in reason(caught)
    assert token not in str(caught.value)
    assert not [part for part in token.split(".") if len(part) > 8 and part in str(caught.value)]


async def test_iat_in_the_future_is_checked_by_pyjwt(key_sets: KeySets) -> None:
    """PyJWT (2.10 on) refuses an `iat` beyond the leeway as it refuses such an `nbf`."""
    with pytest.raises(TokenError) as caught:
        await verify_access_token(access_token(iat=now() + 90), CONFIG, key_sets)
    assert str(caught.value) == "the token is not valid (The token is not yet valid (iat))"


@pytest.mark.parametrize(
    ("claim", "delta"),
    [("exp", -30), ("nbf", 30), ("iat", 30)],
    ids=["expired-within-leeway", "nbf-within-leeway", "iat-within-leeway"],
)
async def test_clock_skew_within_leeway_is_accepted(
    claim: str, delta: int, key_sets: KeySets
) -> None:
    token = access_token(None, **{claim: now() + delta})
    assert (await verify_access_token(token, CONFIG, key_sets)).subject


async def test_leeway_is_the_configured_one(key_sets: KeySets) -> None:
    strict = AccessConfig(CONFIG.audience, CONFIG.issuers, leeway=0)
    with pytest.raises(TokenError, match="Signature has expired"):
        await verify_access_token(access_token(exp=now() - 5), strict, key_sets)


async def test_algorithms_are_the_issuers_own(key_sets: KeySets) -> None:
    rsa_only = AccessConfig(AUDIENCE, (Issuer(IDP_B, B_JWKS, ("RS256",)),))
    with pytest.raises(TokenError, match="algorithm 'ES256' is not accepted"):
        await verify_access_token(access_token(keys().b), rsa_only, key_sets)


@pytest.mark.parametrize("issuer", ["a", "b"], ids=["RS256", "ES256"])
async def test_accepted(issuer: str, key_sets: KeySets) -> None:
    identity = await verify_access_token(access_token(getattr(keys(), issuer)), CONFIG, key_sets)
    assert identity == Identity(identity.subject, bona_fide=False, grants=frozenset())
    assert identity.dropped == ()
    assert re.fullmatch("[0-9a-f]{32}", identity.subject)
    assert "alice" not in identity.subject


async def test_audience_among_several(key_sets: KeySets) -> None:
    token = access_token(aud=["https://other.example", AUDIENCE])
    assert (await verify_access_token(token, CONFIG, key_sets)).subject


async def test_subject_is_a_stable_pseudonym_per_issuer(key_sets: KeySets) -> None:
    async def subject(signer: Signer, **changes: Any) -> str:
        return (
            await verify_access_token(access_token(signer, **changes), CONFIG, key_sets)
        ).subject

    k = keys()
    first = await subject(k.a, jti="1")
    assert await subject(k.a, jti="2", exp=now() + 600) == first
    assert await subject(k.b) != first
    assert await subject(k.a, sub="bob") != first
    assert await subject(k.b, sub="bob") != await subject(k.a, sub="bob")


# Key sets


async def test_known_key_is_read_once(documents: KeySetDocuments, key_sets: KeySets) -> None:
    for _ in range(5):
        await verify_access_token(access_token(), CONFIG, key_sets)
    await verify_access_token(access_token(keys().b), CONFIG, key_sets)
    assert documents.reads == {A_JWKS: 1, B_JWKS: 1}


async def test_unknown_kid_rereads_at_most_every(documents: KeySetDocuments) -> None:
    k = keys()
    key_sets = KeySets(documents, every=0.3)
    await verify_access_token(access_token(), CONFIG, key_sets)
    documents.documents[A_JWKS] = key_set(k.a, k.a_next)  # the issuer rotates its keys
    with pytest.raises(TokenError, match="not in its issuer's key set"):
        await verify_access_token(access_token(k.a_next), CONFIG, key_sets)
    assert documents.reads[A_JWKS] == 1, "re-read sooner than `every`"

    await asyncio.sleep(0.35)
    await verify_access_token(access_token(k.a_next), CONFIG, key_sets)
    assert documents.reads[A_JWKS] == 2
    unknown = k.a.sign(claims(), kid="no-such-key")
    for _ in range(3):
        with pytest.raises(TokenError, match="not in its issuer's key set"):
            await verify_access_token(unknown, CONFIG, key_sets)
    assert documents.reads[A_JWKS] == 2

    await asyncio.sleep(0.35)
    tries = [verify_access_token(unknown, CONFIG, key_sets) for _ in range(10)]
    results = await asyncio.gather(*tries, return_exceptions=True)
    assert all(isinstance(r, TokenError) for r in results)
    assert documents.reads[A_JWKS] == 3, "concurrent lookups of one unknown kid: one read"


async def test_retired_key_is_refused_after_reread(documents: KeySetDocuments) -> None:
    k = keys()
    key_sets = KeySets(documents, every=0)
    await verify_access_token(access_token(), CONFIG, key_sets)
    documents.documents[A_JWKS] = key_set(k.a_next)
    await verify_access_token(access_token(k.a_next), CONFIG, key_sets)
    with pytest.raises(TokenError, match="not in its issuer's key set"):
        await verify_access_token(access_token(), CONFIG, key_sets)


async def test_unreachable_key_set(documents: KeySetDocuments, key_sets: KeySets) -> None:
    del documents.documents[A_JWKS]
    with pytest.raises(TokenError, match="the issuer's key set cannot be read"):
        await verify_access_token(access_token(), CONFIG, key_sets)
    with pytest.raises(TokenError):
        await verify_access_token(access_token(), CONFIG, key_sets)
    assert documents.reads[A_JWKS] == 1


def _encryption_key() -> dict[str, Any]:
    return {**keys().outsider.jwk(), "kid": "enc-1", "use": "enc", "alg": "RSA-OAEP"}


@pytest.mark.parametrize(
    "unusable",
    [
        _encryption_key,
        lambda: {"kty": "OKP", "crv": "X25519", "x": "AAAA", "kid": "ecdh-1", "use": "enc"},
        lambda: {"kty": "RSA", "kid": "broken-1"},
    ],
    ids=["rsa-oaep-encryption-key", "x25519-key", "rsa-key-without-modulus"],
)
async def test_unusable_key_beside_the_signing_key_is_skipped(
    unusable: Any, documents: KeySetDocuments, key_sets: KeySets
) -> None:
    """RFC 7517 s5: keys an implementation does not understand are ignored, not fatal (Keycloak,
    for one, publishes an RSA-OAEP encryption key beside its signing keys)."""
    documents.documents[A_JWKS] = {"keys": [unusable(), keys().a.jwk()]}
    assert (await verify_access_token(access_token(), CONFIG, key_sets)).subject


# Visas


def grant(**changes: Any) -> str:
    """A ControlledAccessGrants visa for DATASET, asserted by its DAC, with `changes`."""
    return visa("ControlledAccessGrants", DATASET, **{"by": "dac", **changes})


def good_visas() -> list[str]:
    return [*bona_fide_visas(VISA_JKU), grant(jku=VISA_JKU)]


def impostor(kid: str | None = None) -> Signer:
    """The outsider's key, claiming to be the visa issuer."""
    k = keys()
    return Signer(VISAS, kid or k.visas.kid, k.outsider.private, "RS256")


async def passport(visas: Any, key_sets: KeySets) -> Identity:
    """The identity behind an access token carrying `visas` as its ga4gh_passport_v1."""
    return await verify_access_token(access_token(ga4gh_passport_v1=visas), CONFIG, key_sets)


async def test_good_visas(key_sets: KeySets, documents: KeySetDocuments) -> None:
    identity = await passport(good_visas(), key_sets)
    assert identity.bona_fide
    assert identity.grants == frozenset({DATASET})
    assert identity.dropped == ()
    assert documents.reads[VISA_JKU] == 1


async def test_verify_visa_returns_its_claim(key_sets: KeySets) -> None:
    claim = await verify_visa(grant(jku=VISA_JKU), CONFIG, key_sets)
    assert {k: claim[k] for k in ("type", "value", "by")} == {
        "type": "ControlledAccessGrants",
        "value": DATASET,
        "by": "dac",
    }


VISA_CASES: dict[str, tuple[Callable[[], Any], str]] = {
    "jku-not-pinned": (
        lambda: grant(signer=impostor(keys().outsider.kid), jku=EVIL_JKU),
        "visa jku is not the one pinned for its issuer",
    ),
    "jku-missing": (lambda: grant(), "visa jku is not the one pinned for its issuer"),
    "untrusted-issuer": (
        lambda: grant(signer=keys().outsider, jku=OUTSIDER_JWKS),
        "visa issuer not trusted",
    ),
    "issuer-missing": (lambda: grant(jku=VISA_JKU, iss=None), "issuer not trusted"),
    "signed-by-wrong-key": (
        lambda: grant(signer=impostor(), jku=VISA_JKU),
        "Signature verification failed",
    ),
    "unknown-kid": (
        lambda: grant(signer=impostor("no-such-key"), jku=VISA_JKU),
        "not in its issuer's key set",
    ),
    "alg-none": (
        lambda: compact(
            {"alg": "none", "kid": keys().visas.kid, "jku": VISA_JKU},
            {"iss": VISAS, "iat": now(), "exp": now() + 60, "ga4gh_visa_v1": {}},
            lambda _: b"",
        ),
        "visa algorithm 'none' is not accepted",
    ),
    "expired": (
        lambda: grant(jku=VISA_JKU, iat=now() - 7200, exp=now() - 3600),
        "Signature has expired",
    ),
    "iat-in-future": (
        lambda: grant(jku=VISA_JKU, iat=now() + 600),
        "not yet valid (iat)",
    ),
    "exp-missing": (lambda: grant(jku=VISA_JKU, exp=None), 'missing the "exp"'),
    "grant-without-by": (
        lambda: visa("ControlledAccessGrants", DATASET, jku=VISA_JKU),
        "must be asserted by a dac",
    ),
    "grant-by-self": (
        lambda: visa("ControlledAccessGrants", DATASET, jku=VISA_JKU, by="self"),
        "must be asserted by a dac",
    ),
    "conditions": (
        lambda: grant(jku=VISA_JKU, extra={"conditions": [[{"type": "AffiliationAndRole"}]]}),
        "conditions are not supported",
    ),
    "unknown-type": (lambda: visa("FavouriteColour", "blue", jku=VISA_JKU), "unknown visa type"),
    "no-visa-claim": (
        lambda: grant(jku=VISA_JKU, ga4gh_visa_v1=None),
        "no ga4gh_visa_v1 claim",
    ),
    "value-not-a-string": (
        lambda: grant(jku=VISA_JKU, extra={"value": [DATASET]}),
        "must be strings",
    ),
    "asserted-not-a-number": (
        lambda: grant(jku=VISA_JKU, extra={"asserted": "yesterday"}),
        "asserted must be a whole number",
    ),
    "not-a-string": (lambda: {"iss": VISAS}, "not a JWT string"),
    "not-a-jwt": (lambda: "garbage", "not a well-formed JWT"),
}


@pytest.mark.parametrize("case", list(VISA_CASES))
async def test_bad_visa_is_dropped_alone(
    case: str, key_sets: KeySets, documents: KeySetDocuments
) -> None:
    build, expected = VISA_CASES[case]
    identity = await passport([*good_visas(), build()], key_sets)
    assert identity.bona_fide, identity.dropped
    assert identity.grants == frozenset({DATASET})
    [dropped] = identity.dropped
    assert dropped.startswith("visa 3: ")
    assert expected in dropped.replace("\\", "")
    assert documents.reads[EVIL_JKU] == 0, "a key set fetched from a jku that is not pinned"


async def test_visas_from_userinfo(key_sets: KeySets) -> None:
    """Visas given apart from the token (a broker's userinfo) are verified the same way."""
    identity = await identity_from_visas("s", [*good_visas(), "garbage"], CONFIG, key_sets)
    assert (identity.subject, identity.bona_fide, identity.grants) == (
        "s",
        True,
        frozenset({DATASET}),
    )
    assert len(identity.dropped) == 1


async def test_no_visa_issuers_configured_trusts_no_visa(key_sets: KeySets) -> None:
    """No visa issuers configured: no visa counts (an empty list trusts nobody)."""
    config = AccessConfig(AUDIENCE, CONFIG.issuers)
    identity = await verify_access_token(
        access_token(ga4gh_passport_v1=good_visas()), config, key_sets
    )
    assert (identity.bona_fide, identity.grants, len(identity.dropped)) == (False, frozenset(), 3)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([OTHER_DATASET], {OTHER_DATASET}),
        ([DATASET + "/"], {DATASET + "/"}),
        ([DATASET.upper()], {DATASET.upper()}),
        ([DATASET, OTHER_DATASET], {DATASET, OTHER_DATASET}),
    ],
    ids=["another-dataset", "trailing-slash", "other-case", "two-datasets"],
)
async def test_grants_are_exactly_the_values_named(
    values: list[str], expected: set[str], key_sets: KeySets
) -> None:
    grants = [visa("ControlledAccessGrants", v, jku=VISA_JKU, by="dac") for v in values]
    identity = await passport(grants, key_sets)
    assert identity.grants == frozenset(expected)
    assert not identity.bona_fide


def _terms(value: str = BONA_FIDE, **changes: Any) -> str:
    return visa("AcceptedTermsAndPolicies", value, jku=VISA_JKU, by="self", **changes)


def _status(value: str = BONA_FIDE, **changes: Any) -> str:
    return visa("ResearcherStatus", value, jku=VISA_JKU, by="so", **changes)


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda: [_terms(), _status()], True),
        (lambda: [_status(), _terms()], True),
        (lambda: [_terms()], False),
        (lambda: [_status()], False),
        (lambda: [_terms(), _terms()], False),
        (lambda: [_terms(), _status(BONA_FIDE.replace("https", "http"))], False),
        (lambda: [_terms(BONA_FIDE + "/"), _status()], False),
        (lambda: [_terms(), _status("https://doi.org/10.1038/other")], False),
        (lambda: [_terms(), _status(iat=now() - 7200, exp=now() - 3600)], False),
        (
            lambda: [
                _terms(),
                visa("ResearcherStatus", BONA_FIDE, signer=impostor(), jku=VISA_JKU),
            ],
            False,
        ),
        (lambda: [_terms(), visa("AffiliationAndRole", BONA_FIDE, jku=VISA_JKU, by="so")], False),
        (lambda: [_terms(), _status(ga4gh_visa_v1=None)], False),
    ],
    ids=[
        "both",
        "both-other-order",
        "terms-only",
        "status-only",
        "terms-twice",
        "status-http-value",
        "terms-value-with-slash",
        "status-other-value",
        "status-expired",
        "status-signed-by-wrong-key",
        "affiliation-instead-of-status",
        "status-without-claim",
    ],
)
async def test_bona_fide_needs_both_visas(build: Any, expected: bool, key_sets: KeySets) -> None:
    identity = await passport(build(), key_sets)
    assert identity.bona_fide is expected
    assert identity.grants == frozenset()


@pytest.mark.parametrize(
    "visas",
    [
        lambda: bona_fide_visas(VISA_JKU)[0],
        lambda: {"0": bona_fide_visas(VISA_JKU)[0]},
        lambda: 7,
        lambda: json.dumps(good_visas()),
    ],
    ids=["one-visa-string", "object", "number", "json-text-of-a-list"],
)
async def test_passport_claim_not_a_list(visas: Any, key_sets: KeySets) -> None:
    """The token still names its caller; no visa of it counts."""
    identity = await passport(visas(), key_sets)
    assert (identity.bona_fide, identity.grants) == (False, frozenset())
    assert identity.dropped == ("ga4gh_passport_v1 is not a list",)


async def test_visa_issuer_is_not_an_access_token_issuer(key_sets: KeySets) -> None:
    """A visa, however good, is not an access token (its issuer is not on the allow-list)."""
    with pytest.raises(TokenError, match="issuer is not trusted"):
        await verify_access_token(bona_fide_visas(VISA_JKU)[0], CONFIG, key_sets)


async def test_hs256_visa_keyed_with_public_pem(key_sets: KeySets) -> None:
    payload = {"iss": VISAS, "iat": now(), "exp": now() + 60}
    payload["ga4gh_visa_v1"] = {"type": "ResearcherStatus", "value": BONA_FIDE, "source": OUTSIDER}
    forged = hmac_with_public_key(keys().visas, payload, jku=VISA_JKU)
    with pytest.raises(TokenError, match="visa algorithm 'HS256' is not accepted"):
        await verify_visa(forged, CONFIG, key_sets)
