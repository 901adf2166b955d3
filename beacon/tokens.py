"""Bearer tokens and GA4GH Passport visas, verified: who the caller is and what they were granted.

Access tokens: the issuer must be on the allow-list, the key comes from that issuer's JWKS (fetched
through the app's HTTP session, cached, re-read for an unknown `kid`), the algorithm from the
issuer's short list (never `none`, never HMAC), and `exp`/`nbf`/`iat`/`aud` are checked with a
small leeway. Visas (`ga4gh_passport_v1`) are verified one by one against trusted visa issuers
whose `jku` is pinned; a visa failing any check is dropped with its reason, never the whole token.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import jwt

log = logging.getLogger(__name__)

BONA_FIDE = "https://doi.org/10.1038/s41431-018-0219-y"
"""The value both bona fide visas carry (the GA4GH registered-access policy)."""

ALGORITHMS = ("RS256", "ES256")


class TokenError(Exception):
    """A token (or visa) that cannot be trusted; the message is safe to show and to log."""


@dataclass(frozen=True)
class Issuer:
    """An issuer of access tokens this beacon accepts."""

    issuer: str
    jwks_url: str
    algorithms: tuple[str, ...] = ALGORITHMS
    delegating: bool = False
    """An aggregator of our network: its `sub` is already the user's pseudonym (taken as it is,
    so a user's budgets here are the same whether they ask directly or through it)."""
    userinfo_url: str | None = None
    """Where this issuer's visas are read when a token carries none (OIDC userinfo)."""


@dataclass(frozen=True)
class VisaIssuer:
    """An issuer of visas this beacon trusts, with the only `jku` its visas may name and the
    visa types it is trusted to assert."""

    issuer: str
    jku: str
    types: frozenset[str] = frozenset({"AcceptedTermsAndPolicies", "ResearcherStatus"})
    """Grants (`ControlledAccessGrants`) only from issuers configured for them."""


@dataclass(frozen=True)
class AccessConfig:
    audience: str
    issuers: tuple[Issuer, ...]
    visa_issuers: tuple[VisaIssuer, ...] = ()
    leeway: float = 60.0


@dataclass(frozen=True)
class Identity:
    """A verified caller: a pseudonymous subject, bona fide status and controlled-access grants
    (the dataset URLs or ids their `ControlledAccessGrants` visas name)."""

    subject: str
    bona_fide: bool = False
    grants: frozenset[str] = frozenset()
    dropped: tuple[str, ...] = field(default=(), compare=False)
    """Why each dropped visa was dropped (for the log; never shown with the visa itself)."""
    visas: tuple[Visa, ...] = field(default=(), compare=False)
    """The visas that verified, kept so an aggregator can pass the relevant ones on."""


@dataclass(frozen=True)
class Visa:
    """One verified visa: its type, value and the signed JWT itself."""

    type: str
    value: str
    jwt: str


Fetch = Callable[[str], Awaitable[dict[str, Any]]]
"""GET a URL and return its JSON object; raises on any failure (bounded in time by the caller)."""


class KeySets:
    """JWKS documents by URL, cached; re-read when a `kid` is unknown, at most every `every` s."""

    def __init__(self, fetch: Fetch, every: float = 30.0, max_age: float = 600.0) -> None:
        self._fetch = fetch
        self._every = every
        self._max_age = max_age
        """A key set older than this is read again before use: withdrawn keys stop working."""
        self._keys: dict[str, dict[str, jwt.PyJWK]] = {}
        self._read_at: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def key(self, url: str, kid: str) -> jwt.PyJWK:
        keys = self._keys.get(url, {})
        if kid in keys and self._age(url) < self._max_age:
            return keys[kid]
        async with self._locks.setdefault(url, asyncio.Lock()):
            keys = self._keys.get(url, {})  # perhaps read meanwhile by another request
            age = self._age(url)
            if age >= self._max_age or (kid not in keys and age >= self._every):
                keys = await self._read(url)
        if kid not in keys:
            raise TokenError("the token's key id is not in its issuer's key set")
        return keys[kid]

    def _age(self, url: str) -> float:
        return time.monotonic() - self._read_at.get(url, -1e9)

    async def _read(self, url: str) -> dict[str, jwt.PyJWK]:
        self._read_at[url] = time.monotonic()
        try:
            document = await self._fetch(url)
        except Exception as exc:  # unreachable, slow, not JSON
            raise TokenError("the issuer's key set cannot be read") from exc
        listed = document.get("keys")
        if not isinstance(listed, list):
            raise TokenError("the issuer's key set lists no keys")
        found = {}
        for entry in listed:
            # Keys for other uses (encryption) or of kinds we cannot use are skipped, as RFC
            # 7517 says, so that one of them does not lock out every token of the issuer.
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                continue
            try:
                found[str(entry["kid"])] = jwt.PyJWK(entry)
            except (KeyError, jwt.PyJWTError):
                log.info("unusable key skipped", extra={"jwks": url, "kid": entry.get("kid")})
        self._keys[url] = found
        return found


FetchWithToken = Callable[[str, str], Awaitable[dict[str, Any]]]
"""GET a URL with `Authorization: Bearer <token>` and return its JSON object; raises on failure."""


class UserInfo:
    """Visas from issuers' userinfo endpoints, cached per token until it expires."""

    def __init__(self, fetch: FetchWithToken, *, entries: int = 10_000) -> None:
        self._fetch = fetch
        self._entries = entries
        self._cache: dict[str, tuple[float, list[Any]]] = {}

    async def visas(self, url: str, token: str, claims: dict[str, Any]) -> list[Any]:
        """The `ga4gh_passport_v1` list of the caller's userinfo (whose `sub` must be the
        token's); raises ValueError when the answer is not usable."""
        key = hashlib.sha256(token.encode()).hexdigest()
        now = time.time()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        found = await self._fetch(url, token)
        if found.get("sub") != claims["sub"]:
            raise ValueError("the userinfo is not the token's subject")
        visas = found.get("ga4gh_passport_v1", [])
        if not isinstance(visas, list):
            raise ValueError("ga4gh_passport_v1 is not a list")
        if len(self._cache) >= self._entries:
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            if len(self._cache) >= self._entries:
                self._cache.pop(next(iter(self._cache)))
        self._cache[key] = (float(claims["exp"]), visas)
        return visas


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise TokenError("not a well-formed JWT") from exc
    if not isinstance(header.get("kid"), str):
        raise TokenError("the token names no key id (kid)")
    return header, claims


async def verify_access_token(
    token: str, config: AccessConfig, keys: KeySets, userinfo: UserInfo | None = None
) -> Identity:
    """The caller behind `token`; raises TokenError for anything untrusted. Visas come from the
    token, else from the issuer's userinfo endpoint when one is configured."""
    header, claims = _unverified(token)
    issuer = next((i for i in config.issuers if i.issuer == claims.get("iss")), None)
    if issuer is None:
        raise TokenError("the token's issuer is not trusted here")
    if header.get("alg") not in issuer.algorithms:
        raise TokenError(f"algorithm {str(header.get('alg'))[:20]!r} is not accepted")
    key = await keys.key(issuer.jwks_url, header["kid"])
    try:
        verified = jwt.decode(
            token,
            key,
            algorithms=list(issuer.algorithms),
            audience=config.audience,
            issuer=issuer.issuer,
            leeway=config.leeway,
            options={"require": ["exp", "iat", "iss", "sub", "aud"]},
        )
    except jwt.PyJWTError as exc:
        raise TokenError(f"the token is not valid ({_why(exc)})") from exc
    subject = (
        pseudonym(issuer.issuer, verified["sub"])
        if not issuer.delegating
        else _delegated_subject(verified["sub"])
    )
    if "ga4gh_passport_v1" not in verified and issuer.userinfo_url and userinfo is not None:
        try:
            visas = await userinfo.visas(issuer.userinfo_url, token, verified)
        except Exception as exc:  # no visas, not a refused caller: they stay PUBLIC
            log.warning("userinfo not read", extra={"issuer": issuer.issuer, "reason": str(exc)})
            return Identity(subject, dropped=("userinfo could not be read",))
        return await identity_from_visas(subject, visas, config, keys)
    visas = verified.get("ga4gh_passport_v1", [])
    return await identity_from_visas(subject, visas, config, keys)


def pseudonym(issuer: str, subject: Any) -> str:
    """The caller as this network knows them: a hash of issuer and subject, never the subject."""
    return hashlib.sha256(f"{issuer}\0{subject}".encode()).hexdigest()[:32]


_PSEUDONYM = re.compile(r"^(anonymous:)?[0-9a-f]{32}$")


def _delegated_subject(subject: Any) -> str:
    if not isinstance(subject, str) or not _PSEUDONYM.fullmatch(subject):
        raise TokenError("a delegated token's sub must be a pseudonym")
    return subject


async def identity_from_visas(
    subject: str, visas: Any, config: AccessConfig, keys: KeySets
) -> Identity:
    """Bona fide status and grants from the visas that verify; the others are dropped."""
    if not isinstance(visas, list):
        return Identity(subject, dropped=("ga4gh_passport_v1 is not a list",))
    found: list[dict[str, Any]] = []
    kept: list[Visa] = []
    dropped: list[str] = []
    for index, visa in enumerate(visas[:100]):
        try:
            claims = await verify_visa(visa, config, keys)
            found.append(claims)
            kept.append(Visa(claims["type"], claims["value"], visa))
        except TokenError as exc:
            dropped.append(f"visa {index}: {exc}")
        except Exception:  # whatever one visa holds, it costs that visa only
            log.exception("visa check failed unexpectedly")
            dropped.append(f"visa {index}: could not be checked")
    policies = {(v["type"], v["value"]) for v in found}
    bona_fide = {("AcceptedTermsAndPolicies", BONA_FIDE), ("ResearcherStatus", BONA_FIDE)}
    grants = frozenset(v["value"] for v in found if v["type"] == "ControlledAccessGrants")
    return Identity(subject, bona_fide <= policies, grants, tuple(dropped), tuple(kept))


_VISA_TYPES = frozenset(
    {
        "AffiliationAndRole",
        "AcceptedTermsAndPolicies",
        "ResearcherStatus",
        "ControlledAccessGrants",
        "LinkedIdentities",
    }
)


async def verify_visa(visa: Any, config: AccessConfig, keys: KeySets) -> dict[str, Any]:
    """One visa's `ga4gh_visa_v1` claim, or TokenError saying why it cannot be trusted.

    The `jku` must be the one pinned for the visa's issuer before any key is fetched.
    """
    if not isinstance(visa, str):
        raise TokenError("not a JWT string")
    header, claims = _unverified(visa)
    trusted = next((v for v in config.visa_issuers if v.issuer == claims.get("iss")), None)
    if trusted is None:
        raise TokenError("visa issuer not trusted")
    if header.get("jku") != trusted.jku:
        raise TokenError("visa jku is not the one pinned for its issuer")
    if header.get("alg") not in ALGORITHMS:
        raise TokenError(f"visa algorithm {str(header.get('alg'))[:20]!r} is not accepted")
    key = await keys.key(trusted.jku, header["kid"])
    try:
        verified = jwt.decode(
            visa,
            key,
            algorithms=list(ALGORITHMS),
            issuer=trusted.issuer,
            leeway=config.leeway,
            options={"require": ["exp", "iat", "iss"], "verify_aud": False},
        )
    except jwt.PyJWTError as exc:
        raise TokenError(f"visa not valid ({_why(exc)})") from exc
    claim = _visa_claim(verified.get("ga4gh_visa_v1"))
    if claim["type"] not in trusted.types:
        raise TokenError(f"{claim['type']} visas are not trusted from this issuer")
    return claim


def _visa_claim(claim: Any) -> dict[str, Any]:
    if not isinstance(claim, dict):
        raise TokenError("no ga4gh_visa_v1 claim")
    if not isinstance(claim.get("type"), str) or claim["type"] not in _VISA_TYPES:
        raise TokenError("unknown visa type")
    if not all(isinstance(claim.get(k), str) for k in ("value", "source")):
        raise TokenError("visa value and source must be strings")
    if type(claim.get("asserted")) is not int:
        raise TokenError("visa asserted must be a whole number of seconds")
    if "conditions" in claim:
        raise TokenError("visa conditions are not supported, so the visa is not used")
    if claim["type"] == "ControlledAccessGrants" and claim.get("by") != "dac":
        raise TokenError("a ControlledAccessGrants visa must be asserted by a dac")
    return claim


def _why(exc: jwt.PyJWTError) -> str:
    """PyJWT's reason, which names the failed check and never echoes the token."""
    return json.dumps(str(exc))[1:-1][:120]
