"""Who is asking: every request gets a Principal, anonymous included.

A bearer token, when the beacon is configured to accept tokens (`[access]`), is verified by
`beacon.tokens` (issuer, keys, audience, expiry, visas); a token that fails is a 401, never a
silent fall-back to anonymous. Without `[access]` tokens are not read and every caller is
anonymous.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum

from beacon.errors import Forbidden, Unauthenticated
from beacon.results import Granularity
from beacon.tokens import (
    AccessConfig,
    KeySets,
    TokenError,
    UserInfo,
    Visa,
    verify_access_token,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Principal:
    """A caller: a pseudonymous subject (None: anonymous), bona fide status, and the datasets
    (URLs or ids) a `ControlledAccessGrants` visa grants them."""

    subject: str | None = None
    bona_fide: bool = False
    grants: frozenset[str] = frozenset()
    visas: tuple[Visa, ...] = field(default=(), compare=False)
    """The verified visas behind `bona_fide` and `grants` (an aggregator passes them on)."""

    @property
    def anonymous(self) -> bool:
        return self.subject is None

    @property
    def tier(self) -> str:
        """What answers are shaped for (and cached under): PUBLIC, REGISTERED, or CONTROLLED with
        a fingerprint of the grants, so two callers share cached answers only with equal rights."""
        base = "REGISTERED" if self.bona_fide else "PUBLIC"
        if self.grants:
            granted = hashlib.sha256("\n".join(sorted(self.grants)).encode()).hexdigest()[:16]
            return f"CONTROLLED:{base}:{granted}"
        return base


ANONYMOUS = Principal()


async def authenticate(
    authorization: str | None,
    access: AccessConfig | None,
    keys: KeySets | None,
    userinfo: UserInfo | None = None,
) -> Principal:
    """The caller behind an `Authorization` header; raises Unauthenticated for a bad token."""
    if authorization is None or access is None:
        return ANONYMOUS
    if keys is None:  # configured but not started: refuse rather than answer as anonymous
        raise Unauthenticated("tokens cannot be checked right now")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        raise Unauthenticated(
            "send credentials as `Authorization: Bearer <token>`", token_given=False
        )
    if not token.strip():
        raise Unauthenticated("send credentials as `Authorization: Bearer <token>`")
    try:
        identity = await verify_access_token(token.strip(), access, keys, userinfo)
    except TokenError as exc:
        raise Unauthenticated(f"the bearer token was refused: {exc}") from None
    if identity.dropped:  # the pseudonym and the reasons only: never a token or a visa
        log.info(
            "visas dropped",
            extra={"subject": identity.subject, "reasons": "; ".join(identity.dropped)},
        )
    return Principal(identity.subject, identity.bona_fide, identity.grants, identity.visas)


class Tier(IntEnum):
    """Access tiers, ordered: a caller of a tier may see datasets needing that tier or less."""

    PUBLIC = 1
    REGISTERED = 2
    CONTROLLED = 3


_TIER_GRANULARITY = {
    Tier.PUBLIC: Granularity.BOOLEAN,
    Tier.REGISTERED: Granularity.COUNT,
    Tier.CONTROLLED: Granularity.RECORD,
}


@dataclass(frozen=True)
class AccessPolicy:
    """Which tier each dataset needs and the finest granularity each tier of caller gets.

    Not `enforced` (a beacon without `[access]`): every dataset is open to everyone and only
    the beacon's own `max_granularity` applies.
    """

    enforced: bool = False
    default_level: Tier = Tier.PUBLIC
    levels: Mapping[str, Tier] = field(default_factory=dict)
    grants: Mapping[str, str] = field(default_factory=dict)
    """Dataset id -> the value (its URL) a ControlledAccessGrants visa must name for it. A
    dataset without one cannot be granted: a bare id could be another beacon's dataset."""
    granularity: Mapping[Tier, Granularity] = field(default_factory=lambda: _TIER_GRANULARITY)

    def level(self, dataset: str) -> Tier:
        """The tier a caller needs to see `dataset` at all."""
        return self.levels.get(dataset, self.default_level) if self.enforced else Tier.PUBLIC

    def tier(self, caller: Principal, dataset: str) -> Tier:
        """The caller's tier for one dataset: CONTROLLED with a grant for it, REGISTERED when
        bona fide, else PUBLIC."""
        grant = self.grants.get(dataset)
        if grant is not None and grant in caller.grants:
            return Tier.CONTROLLED
        return Tier.REGISTERED if caller.bona_fide else Tier.PUBLIC

    def allows(self, caller: Principal, dataset: str) -> bool:
        return not self.enforced or self.tier(caller, dataset) >= self.level(dataset)

    def ceiling(self, caller: Principal, datasets: Iterable[str]) -> Granularity:
        """The finest granularity for an answer over `datasets`: the coarsest any of them
        allows this caller (one answer has one granularity)."""
        if not self.enforced:
            return Granularity.RECORD
        tiers = [self.tier(caller, d) for d in datasets] or [self.tier(caller, "")]
        return min(self.granularity[t] for t in tiers)

    def controlled(self, caller: Principal, datasets: Iterable[str]) -> frozenset[str]:
        """The datasets among these the caller is CONTROLLED for (their counts are exact)."""
        return frozenset(d for d in datasets if self.tier(caller, d) is Tier.CONTROLLED)

    def check_named(self, caller: Principal, datasets: Iterable[str]) -> None:
        """Datasets a caller names explicitly must be open to them: else 401 (anonymous: sign
        in) or 403 (signed in, without the rights)."""
        refused = sorted(d for d in datasets if not self.allows(caller, d))
        if not refused:
            return
        named = ", ".join(refused)
        if caller.anonymous:
            raise Unauthenticated(f"dataset(s) {named} need a signed-in caller", token_given=False)
        raise Forbidden(f"your credentials do not give access to dataset(s) {named}")
