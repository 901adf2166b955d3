"""Keys, tokens and key sets for the bearer-token tests.

Every key is generated in this test session (RSA 2048, EC P-256); tokens and visas are minted from
them here; key sets are served as plain JSON, by a dict (`KeySetDocuments`, the `fetch` a KeySets
is given) or by a real aiohttp app on 127.0.0.1 (`KeySetServer`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import jwt
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from beacon.tokens import BONA_FIDE

AUDIENCE = "https://beacon.example/se"
IDP_A = "https://idp-a.example"  # access tokens, RS256
IDP_B = "https://idp-b.example"  # access tokens, ES256
VISAS = "https://visas.example"  # visas (its jku is pinned)
OUTSIDER = "https://outsider.example"  # trusted for nothing
DATASET = "https://datasets.example/tiny"
OTHER_DATASET = "https://datasets.example/other"
DAC = "https://dac.example/tiny"
GRANTING = frozenset({"AcceptedTermsAndPolicies", "ResearcherStatus", "ControlledAccessGrants"})
"""Visa types the test visa issuer is trusted for (grants need configuring explicitly)."""

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class Signer:
    """One signing key of one issuer: it mints tokens and publishes its public JWK."""

    issuer: str
    kid: str
    private: PrivateKey
    alg: str

    def jwk(self) -> dict[str, Any]:
        public = self.private.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            found = RSAAlgorithm.to_jwk(public, as_dict=True)
        else:
            found = ECAlgorithm.to_jwk(public, as_dict=True)
        return {**found, "kid": self.kid, "use": "sig", "alg": self.alg}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        """A JWS of `claims`; `header` adds to or replaces kid (None: no kid at all)."""
        headers = {"kid": self.kid, **header}
        headers = {k: v for k, v in headers.items() if v is not None}
        return jwt.encode(claims, self.private, algorithm=self.alg, headers=headers)


@dataclass(frozen=True)
class Keys:
    """The session's signers: two access-token issuers, a visa issuer and an outsider."""

    a: Signer
    b: Signer
    visas: Signer
    outsider: Signer
    a_next: Signer
    """A second key of IDP_A, published only when a test rotates IDP_A's key set."""


@cache
def keys() -> Keys:
    """Generated once per test session."""

    def rsa_key() -> rsa.RSAPrivateKey:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    return Keys(
        a=Signer(IDP_A, "a-rsa-1", rsa_key(), "RS256"),
        b=Signer(IDP_B, "b-ec-1", ec.generate_private_key(ec.SECP256R1()), "ES256"),
        visas=Signer(VISAS, "v-rsa-1", rsa_key(), "RS256"),
        outsider=Signer(OUTSIDER, "x-rsa-1", rsa_key(), "RS256"),
        a_next=Signer(IDP_A, "a-rsa-2", rsa_key(), "RS256"),
    )


def now() -> int:
    return int(time.time())


def claims(issuer: str = IDP_A, **changes: Any) -> dict[str, Any]:
    """Access-token claims valid for five minutes; a change to None leaves that claim out."""
    at = now()
    found = {"iss": issuer, "sub": "alice", "aud": AUDIENCE, "iat": at, "exp": at + 300}
    found.update(changes)
    return {k: v for k, v in found.items() if v is not None}


def access_token(signer: Signer | None = None, **changes: Any) -> str:
    """A valid access token of `signer` (default: IDP_A's key), with claims changed."""
    signer = signer or keys().a
    return signer.sign(claims(signer.issuer, **changes))


def compact(header: dict[str, Any], payload: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
    """A JWS built by hand, for the tokens PyJWT refuses to make."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{part(json.dumps(header).encode())}.{part(json.dumps(payload).encode())}"
    return f"{signing_input}.{part(sign(signing_input.encode()))}"


def unsigned(payload: dict[str, Any], kid: str = "a-rsa-1") -> str:
    """`alg: none`, no signature."""
    return compact({"alg": "none", "typ": "JWT", "kid": kid}, payload, lambda _: b"")


def hmac_with_public_key(signer: Signer, payload: dict[str, Any], **extra: Any) -> str:
    """HS256 keyed with the issuer's public key PEM (the RS256/HS256 confusion attack); `extra`
    adds to the header."""
    secret = signer.public_pem()
    header = {"alg": "HS256", "typ": "JWT", "kid": signer.kid, **extra}
    return compact(header, payload, lambda data: hmac.new(secret, data, hashlib.sha256).digest())


def tampered(token: str, **changes: Any) -> str:
    """`token` with its payload changed and its signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    raw = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{raw}.{signature}"


def forged(impostor: Signer, victim: Signer, payload: dict[str, Any]) -> str:
    """Signed by `impostor`'s key, claiming to be `victim`'s (its kid, its algorithm's name)."""
    return jwt.encode(
        payload, impostor.private, algorithm=impostor.alg, headers={"kid": victim.kid}
    )


# Access tokens that must be refused, each with (a fragment of) the reason given, read without
# the backslashes beacon.tokens escapes PyJWT's quotes with.
BAD_TOKENS: dict[str, tuple[Callable[[], str], str]] = {
    "alg-none": (lambda: unsigned(claims()), "algorithm 'none' is not accepted"),
    "alg-none-no-kid": (
        lambda: compact({"alg": "none"}, claims(), lambda _: b""),
        "names no key id",
    ),
    "hs256-keyed-with-public-pem": (
        lambda: hmac_with_public_key(keys().a, claims()),
        "algorithm 'HS256' is not accepted",
    ),
    "expired-beyond-leeway": (lambda: access_token(exp=now() - 90), "Signature has expired"),
    "nbf-beyond-leeway": (lambda: access_token(nbf=now() + 90), "not yet valid (nbf)"),
    "iat-in-future-beyond-leeway": (lambda: access_token(iat=now() + 90), "not yet valid (iat)"),
    "issuer-not-on-allow-list": (
        lambda: access_token(keys().outsider),
        "issuer is not trusted",
    ),
    "issuer-spelt-differently": (
        lambda: access_token(iss=IDP_A + "/"),
        "issuer is not trusted",
    ),
    "issuer-missing": (lambda: access_token(iss=None), "issuer is not trusted"),
    "wrong-audience": (
        lambda: access_token(aud="https://beacon.example/fi"),
        "Audience doesn't match",
    ),
    "aud-missing": (lambda: access_token(aud=None), 'missing the "aud" claim'),
    "exp-missing": (lambda: access_token(exp=None), 'missing the "exp" claim'),
    "sub-missing": (lambda: access_token(sub=None), 'missing the "sub" claim'),
    "iat-missing": (lambda: access_token(iat=None), 'missing the "iat" claim'),
    "unknown-kid": (
        lambda: keys().a.sign(claims(), kid="no-such-key"),
        "key id is not in its issuer's key set",
    ),
    "no-kid": (lambda: keys().a.sign(claims(), kid=None), "names no key id"),
    "tampered-payload": (
        lambda: tampered(access_token(), sub="mallory"),
        "Signature verification failed",
    ),
    "signed-by-another-issuers-key-same-kid": (
        lambda: forged(keys().outsider, keys().a, claims()),
        "Signature verification failed",
    ),
    "signed-by-another-trusted-issuers-key-and-kid": (
        lambda: keys().b.sign(claims(IDP_A)),
        "key id is not in its issuer's key set",
    ),
    "es256-claiming-an-rsa-kid": (
        lambda: forged(keys().b, keys().a, claims()),
        "does not match the key's algorithm",
    ),
    "not-a-jwt": (lambda: "not.a.jwt", "not a well-formed JWT"),
}


def visa(
    kind: str,
    value: str,
    *,
    signer: Signer | None = None,
    jku: str | None = None,
    source: str = DAC,
    by: str | None = None,
    extra: dict[str, Any] | None = None,
    **changes: Any,
) -> str:
    """A visa JWT: `ga4gh_visa_v1` of `kind` and `value`, signed by the visa issuer's key with its
    pinned `jku` (pass `jku`); `extra` adds to the visa claim, `changes` to the JWT's claims."""
    signer = signer or keys().visas
    at = now()
    claim = {"type": kind, "asserted": at - 86400, "value": value, "source": source}
    if by is not None:
        claim["by"] = by
    claim.update(extra or {})
    payload = {"iss": signer.issuer, "sub": "alice-at-visas", "iat": at, "exp": at + 3600}
    payload["ga4gh_visa_v1"] = claim
    payload.update(changes)
    payload = {k: v for k, v in payload.items() if v is not None}
    return signer.sign(payload, jku=jku, typ="JWT")


def bona_fide_visas(jku: str) -> list[str]:
    return [
        visa("AcceptedTermsAndPolicies", BONA_FIDE, jku=jku, by="self"),
        visa("ResearcherStatus", BONA_FIDE, jku=jku, by="so"),
    ]


def key_set(*signers: Signer) -> dict[str, Any]:
    return {"keys": [s.jwk() for s in signers]}


class KeySetDocuments:
    """Key set documents by URL, and how often each was read: the `fetch` given to a KeySets.
    A URL without a document fails as an unreachable server would."""

    def __init__(self, documents: dict[str, dict[str, Any]]) -> None:
        self.documents = documents
        self.reads: Counter[str] = Counter()

    async def __call__(self, url: str) -> dict[str, Any]:
        self.reads[url] += 1
        await asyncio.sleep(0)
        if url not in self.documents:
            raise ConnectionRefusedError(url)
        return self.documents[url]


class KeySetServer:
    """Key sets served by a real aiohttp app on 127.0.0.1: `/{name}` answers `documents[name]`;
    `/slow` answers only after `release` is set, `/broken` with a 500, `/html` with a page."""

    def __init__(self, documents: dict[str, dict[str, Any]]) -> None:
        self.documents = documents
        self.reads: Counter[str] = Counter()
        self.release = asyncio.Event()
        self.base = ""
        app = web.Application()
        app.router.add_get("/{name}", self._answer)
        self._server = TestServer(app, host="127.0.0.1")

    async def start(self) -> str:
        """Serve; the base URL key sets are found under."""
        await self._server.start_server()
        self.base = str(self._server.make_url("")).rstrip("/")
        return self.base

    async def close(self) -> None:
        self.release.set()
        await self._server.close()

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.reads[name] += 1
        if name == "slow":
            await asyncio.wait_for(self.release.wait(), timeout=30)
        if name == "broken":
            raise web.HTTPInternalServerError()
        if name == "html":
            return web.Response(text="<html>sign in</html>", content_type="text/html")
        if name not in self.documents:
            raise web.HTTPNotFound()
        return web.json_response(self.documents[name])


def bearer(*passport: str) -> str:
    """An Authorization header value: a valid IDP_A token carrying these visas."""
    token = access_token(ga4gh_passport_v1=list(passport)) if passport else access_token()
    return f"Bearer {token}"


def grant(value: str, jku: str, by: str = "dac") -> str:
    """A ControlledAccessGrants visa for `value` from the visa issuer (pinned `jku`)."""
    return visa("ControlledAccessGrants", value, jku=jku, by=by)
