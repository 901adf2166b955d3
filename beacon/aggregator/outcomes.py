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

    @property
    def counts_against(self) -> bool:
        """Whether this outcome moves the member's circuit breaker towards open."""
        return self not in (Status.OK, Status.CIRCUIT_OPEN, Status.NOT_QUERIED)


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


@dataclass(frozen=True, slots=True)
class Failed:
    """A member that gave no usable answer, and why (`detail` is safe to show to callers)."""

    member: Member
    status: Status
    latency: float
    detail: str
    http_status: int | None = None


Outcome = Answered | Failed
