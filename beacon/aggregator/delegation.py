"""The aggregator's own tokens for its members: the caller's identity carried, never their token.

Per member and caller the aggregator mints a short-lived JWT signed with its own key: `aud` the
member, `sub` the caller's pseudonym (members configured with `delegating = true` take it as it
is, so a person's budgets are the same directly and through the network), and only the visas
that member can use (the bona fide pair, and grants naming one of its datasets). Anonymous
callers get `anonymous:<keyed hash of their address>`, so members can limit each person rather
than the aggregator as a whole. Its public key is served at `/.well-known/jwks.json`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from beacon.auth import Principal

BONA_FIDE_TYPES = frozenset({"AcceptedTermsAndPolicies", "ResearcherStatus"})
JWKS_PATH = "/.well-known/jwks.json"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class SigningKeyError(ValueError):
    """The signing key file cannot be used; the message says why (never the key)."""


@dataclass(frozen=True)
class Signer:
    """The aggregator's signing key, its issuer name and how long its tokens live."""

    issuer: str
    key: PrivateKey = field(repr=False, compare=False)
    lifetime: float = 60.0
    kid: str = field(init=False)
    """A hash of the public key: equal signers have equal keys (a reload compares them)."""

    def __post_init__(self) -> None:
        public = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        object.__setattr__(self, "kid", hashlib.sha256(public).hexdigest()[:16])

    @property
    def algorithm(self) -> str:
        return "ES256" if isinstance(self.key, ec.EllipticCurvePrivateKey) else "RS256"

    def jwks(self) -> dict[str, Any]:
        """The public half, as a JWKS document."""
        if isinstance(self.key, ec.EllipticCurvePrivateKey):
            jwk = json.loads(ECAlgorithm.to_jwk(self.key.public_key()))
        else:
            jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update(kid=self.kid, use="sig", alg=self.algorithm)
        return {"keys": [jwk]}

    def mint(self, subject: str, audience: str, visas: list[str], now: float) -> str:
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject,
            "aud": audience,
            "iat": int(now),
            "exp": int(now + self.lifetime),
        }
        if visas:
            claims["ga4gh_passport_v1"] = visas
        return jwt.encode(claims, self.key, algorithm=self.algorithm, headers={"kid": self.kid})


def load_signer(path: Path, issuer: str, lifetime: float = 60.0) -> Signer:
    """The key in a PEM file (unencrypted PKCS#8 or traditional); EC must be P-256 and RSA at
    least 2048 bits. Raises SigningKeyError."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise SigningKeyError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (ValueError, TypeError):
        raise SigningKeyError(f"{path} is not an unencrypted PEM private key") from None
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return Signer(issuer, key, lifetime)
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size >= 2048:
        return Signer(issuer, key, lifetime)
    raise SigningKeyError(f"{path}: use an EC P-256 key (ES256) or RSA of 2048 bits or more")


def relevant_visas(caller: Principal, grants: frozenset[str]) -> list[str]:
    """The caller's verified visas a member can use: bona fide ones, and grants for one of
    the member's datasets (`grants`: the grant URLs it lists)."""
    return [
        v.jwt
        for v in caller.visas
        if v.type in BONA_FIDE_TYPES or (v.type == "ControlledAccessGrants" and v.value in grants)
    ]


class Delegation:
    """Mints (and briefly reuses) per-member tokens for callers."""

    def __init__(self, signer: Signer, *, entries: int = 10_000) -> None:
        self.signer = signer
        self._address_key = secrets.token_bytes(32)
        self._tokens: OrderedDict[tuple[str, str, tuple[str, ...]], tuple[float, str]] = (
            OrderedDict()
        )
        self._entries = entries

    def subject(self, caller: Principal, address: str) -> str:
        """The caller's pseudonym, or for an anonymous caller a keyed hash of their address
        (the key lives in this process only: the address cannot be guessed back)."""
        if caller.subject is not None:
            return caller.subject
        digest = hmac.new(self._address_key, address.encode(), hashlib.sha256).hexdigest()
        return f"anonymous:{digest[:32]}"

    def token(self, subject: str, audience: str, visas: list[str]) -> str:
        """A token for one member; one minted less than half its lifetime ago is reused."""
        key = (subject, audience, tuple(visas))
        now = time.time()
        found = self._tokens.get(key)
        if found is not None and now - found[0] < self.signer.lifetime / 2:
            return found[1]
        token = self.signer.mint(subject, audience, visas, now)
        self._tokens[key] = (now, token)
        self._tokens.move_to_end(key)
        if len(self._tokens) > self._entries:
            self._tokens.popitem(last=False)
        return token
