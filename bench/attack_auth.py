"""A bench identity provider: one RSA key, its JWKS served on 127.0.0.1, and bona fide callers.

The same issuer signs access tokens and the two bona fide visas (`AcceptedTermsAndPolicies`,
`ResearcherStatus`, value the GA4GH registered-access DOI); the node pins its JWKS URL as both
the token issuer's key set and the visa issuer's `jku`. Every attacked person gets a new `sub`.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

AUDIENCE = "https://beacon.example/bench"
BONA_FIDE_POLICY = "https://doi.org/10.1038/s41431-018-0219-y"
LIFETIME = 6 * 3600
"""Seconds a bench token stays valid: longer than any run."""


@dataclass
class Provider:
    """Signs tokens and visas; `start` serves `/jwks` and fixes the issuer URL."""

    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    kid: str = field(default_factory=lambda: f"bench-{uuid.uuid4().hex[:8]}")
    issuer: str = ""
    _runner: web.AppRunner | None = None
    _visas: list[str] = field(default_factory=list)

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/jwks"

    def jwks(self) -> dict[str, Any]:
        public = RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    async def start(self, port: int) -> None:
        document = self.jwks()

        async def serve_jwks(_: web.Request) -> web.Response:
            return web.json_response(document)

        app = web.Application()
        app.router.add_get("/jwks", serve_jwks)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.issuer = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _sign(self, claims: dict[str, Any], **header: str) -> str:
        return jwt.encode(
            claims, self.key, algorithm="RS256", headers={"kid": self.kid, "typ": "JWT", **header}
        )

    def _visa(self, kind: str, by: str) -> str:
        at = int(time.time())
        claim = {
            "type": kind,
            "value": BONA_FIDE_POLICY,
            "source": "https://bench.example/registration",
            "by": by,
            "asserted": at - 86400,
        }
        payload = {"iss": self.issuer, "sub": "bench-user", "iat": at, "exp": at + LIFETIME}
        return self._sign({**payload, "ga4gh_visa_v1": claim}, jku=self.jwks_url)

    def bona_fide_token(self, subject: str) -> str:
        """An access token for `subject` carrying both bona fide visas."""
        if not self._visas:  # the visas say nothing about who: shared by every bench user
            self._visas = [
                self._visa("AcceptedTermsAndPolicies", "self"),
                self._visa("ResearcherStatus", "system"),
            ]
        at = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": AUDIENCE,
            "iat": at,
            "exp": at + LIFETIME,
            "ga4gh_passport_v1": self._visas,
        }
        return self._sign(claims)

    def access_toml(self) -> str:
        """The node's `[access]` section trusting this provider (PUBLIC by default)."""
        return (
            "[access]\n"
            f'audience = "{AUDIENCE}"\n'
            f'issuers = [{{ issuer = "{self.issuer}", jwks_url = "{self.jwks_url}" }}]\n'
            f'visa_issuers = [{{ issuer = "{self.issuer}", jku = "{self.jwks_url}" }}]\n'
            'default_tier = "PUBLIC"\n'
        )
