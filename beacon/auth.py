"""Who is asking: every request gets a Principal, anonymous included.

Token verification (JWT, GA4GH Passports) arrives with the access-control work; until then every
caller is anonymous and a bearer token is neither trusted nor required.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str | None = None

    @property
    def anonymous(self) -> bool:
        return self.subject is None

    @property
    def tier(self) -> str:
        """The access tier answers are shaped for (and cached under); PUBLIC until tokens count."""
        return "PUBLIC"


ANONYMOUS = Principal()


def principal_of(headers: Mapping[str, str]) -> Principal:
    """The caller behind these request headers (anonymous until tokens are verified)."""
    return ANONYMOUS
