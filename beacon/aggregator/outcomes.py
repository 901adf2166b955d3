"""What asking one member gave: an answer or a failure, always a value, never an exception."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from beacon.config import Member


class Status(StrEnum):
    """A member's status in an answer; everything but OK is a failure."""

    OK = "ok"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    HTTP_ERROR = "http_error"
    INVALID_RESPONSE = "invalid_response"
    UNAUTHORIZED = "unauthorized"
    CIRCUIT_OPEN = "circuit_open"
    NOT_QUERIED = "not_queried"


@dataclass(frozen=True, slots=True)
class Answered:
    """A member's answer, parsed and validated; `latency` in seconds (0 when from cache)."""

    member: Member
    body: dict[str, Any]
    latency: float
    cached: bool = False

    @property
    def status(self) -> Status:
        return Status.OK

    @property
    def counts_against(self) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class Failed:
    """A member that gave no usable answer, and why (`detail` is safe to show to callers)."""

    member: Member
    status: Status
    latency: float
    detail: str
    http_status: int | None = None

    @property
    def counts_against(self) -> bool:
        """Whether this moves the member's circuit breaker towards open.

        Only what says the member is unwell: a 4xx other than 401/403/408/429 is the request's
        fault (a range longer than the member allows), and callers choose their requests.
        """
        if self.status is Status.HTTP_ERROR:
            return (
                self.http_status is None
                or self.http_status >= 500
                or self.http_status
                in (
                    408,
                    429,
                )
            )
        return self.status not in (Status.CIRCUIT_OPEN, Status.NOT_QUERIED)


Outcome = Answered | Failed


def json_object(container: dict[str, Any], key: str) -> dict[str, Any]:
    """`container[key]` when it is a JSON object, else empty: members may send anything."""
    value = container.get(key)
    return value if isinstance(value, dict) else {}


def scalars(value: Any, limit: int = 32) -> dict[str, Any]:
    """A member's free-form `info` object cut to its first `limit` short scalar fields.

    Passed on to callers, so nothing nested (no depth to exhaust a JSON encoder), nothing long.
    """
    if not isinstance(value, dict):
        return {}
    kept: dict[str, Any] = {}
    for key, item in value.items():
        if len(kept) == limit:
            break
        if isinstance(item, str):
            kept[str(key)[:64]] = item[:300]
        elif isinstance(item, bool) or (isinstance(item, int | float) and abs(item) < 1e15):
            kept[str(key)[:64]] = item
    return kept


def deeper_than(value: Any, limit: int) -> bool:
    """Whether JSON `value` nests more than `limit` levels (records are passed on whole, and a
    few hundred levels would break the encoder of the answer they are passed on in)."""
    level = [value]
    for _ in range(limit):
        level = [
            child
            for item in level
            if isinstance(item, dict | list)
            for child in (item.values() if isinstance(item, dict) else item)
            if isinstance(child, dict | list)
        ]
        if not level:
            return False
    return True
