"""Domain errors: each subclass knows its HTTP status; one middleware makes error bodies."""

from __future__ import annotations


class BeaconError(Exception):
    """Base of every error a client may see; `message` is safe to show."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(BeaconError):
    status = 400


class Unauthenticated(BeaconError):
    """No usable credentials; answered with a `WWW-Authenticate: Bearer` challenge."""

    status = 401

    def __init__(self, message: str, *, token_given: bool = True) -> None:
        super().__init__(message)
        error = ', error="invalid_token"' if token_given else ""
        self.challenge = f'Bearer realm="beacon"{error}'


class Forbidden(BeaconError):
    status = 403


class NotFound(BeaconError):
    status = 404


class MethodNotAllowed(BeaconError):
    status = 405


class PayloadTooLarge(BeaconError):
    status = 413


class UnsupportedMediaType(BeaconError):
    status = 415


class TooManyRequests(BeaconError):
    """A client over its request limit; answered with `Retry-After`."""

    status = 429

    def __init__(self, message: str, *, retry_after: str) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StoreUnavailable(BeaconError):
    status = 503


class IngestError(Exception):
    """An ingest that cannot go on; the message names the file (and line where known)."""


class ConfigError(Exception):
    """Settings or config file problems, all of them in one message."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
