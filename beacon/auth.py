"""Who is asking: every request gets a Principal, anonymous included.

A bearer token, when the beacon is configured to accept tokens (`[access]`), is verified by
`beacon.tokens` (issuer, keys, audience, expiry, visas); a token that fails is a 401, never a
silent fall-back to anonymous. Without `[access]` tokens are not read and every caller is
anonymous.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from beacon.errors import Unauthenticated
from beacon.tokens import AccessConfig, KeySets, TokenError, verify_access_token


@dataclass(frozen=True, slots=True)
class Principal:
    """A caller: a pseudonymous subject (None: anonymous), bona fide status, and the datasets
    (URLs or ids) a `ControlledAccessGrants` visa grants them."""

    subject: str | None = None
    bona_fide: bool = False
    grants: frozenset[str] = frozenset()

    @property
    def anonymous(self) -> bool:
        return self.subject is None

    @property
    def tier(self) -> str:
        """What answers are shaped for (and cached under): PUBLIC, REGISTERED, or CONTROLLED with
        a fingerprint of the grants, so two callers share cached answers only with equal rights."""
        if self.grants:
            granted = hashlib.sha256("\n".join(sorted(self.grants)).encode()).hexdigest()[:16]
            return f"CONTROLLED:{granted}"
        return "REGISTERED" if self.bona_fide else "PUBLIC"


ANONYMOUS = Principal()


async def authenticate(
    authorization: str | None, access: AccessConfig | None, keys: KeySets | None
) -> Principal:
    """The caller behind an `Authorization` header; raises Unauthenticated for a bad token."""
    if authorization is None or access is None or keys is None:
        return ANONYMOUS
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("send credentials as `Authorization: Bearer <token>`")
    try:
        identity = await verify_access_token(token.strip(), access, keys)
    except TokenError as exc:
        raise Unauthenticated(f"the bearer token was refused: {exc}") from None
    return Principal(identity.subject, identity.bona_fide, identity.grants)
