"""Settings: read once from BEACON_* environment variables and one TOML file, checked by schema."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from beacon.errors import ConfigError
from beacon.results import Granularity
from beacon.schemas import compile_schema, problems


@dataclass(frozen=True)
class Secret:
    """A value that never shows in logs or reprs."""

    value: str

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


@dataclass(frozen=True)
class Organization:
    id: str = "local"
    name: str = "Local beacon operator"
    description: str = ""
    address: str = ""
    welcome_url: str = ""
    contact_url: str = ""
    logo_url: str = ""


@dataclass(frozen=True)
class BeaconInfo:
    id: str = "org.example.beacon"
    name: str = "Beacon v2 node"
    description: str = "A GA4GH Beacon v2 node answering allele queries."
    environment: str = "dev"
    version: str = "0.1.0"
    welcome_url: str = ""
    contact_url: str = ""
    organization: Organization = field(default_factory=Organization)


@dataclass(frozen=True)
class Settings:
    """Everything the node, ingest and CLI need; build with `load_settings`."""

    mongo_uri: Secret | None = None
    db_name: str = "beacon"
    data_dir: Path = field(default_factory=lambda: Path.home() / ".local/share/beacon")
    host: str = "127.0.0.1"
    port: int = 5050
    info: BeaconInfo = field(default_factory=BeaconInfo)
    max_body_bytes: int = 65536
    max_range_bases: int = 5_000_000
    default_limit: int = 10
    max_granularity: Granularity = Granularity.RECORD
    catalog_ttl: float = 1.0
    cache_alleles: int = 50_000


_ENV_INT = {"BEACON_PORT": ("port", 0, 65535)}
_ENV_STR = {"BEACON_DB": "db_name", "BEACON_HOST": "host"}


def load_settings(environ: Mapping[str, str], path: Path | None = None) -> Settings:
    """Environment variables override the file; raises ConfigError listing every problem."""
    data: dict[str, Any] = {}
    errors: list[str] = []
    if path:
        try:
            data = _read_file(path)
        except ConfigError as exc:
            errors.extend(exc.problems)
    found: dict[str, Any] = _from_file(data)
    for var, name in _ENV_STR.items():
        if environ.get(var):
            found[name] = environ[var]
    for var, (name, low, high) in _ENV_INT.items():
        if environ.get(var):
            try:
                found[name] = int(environ[var])
            except ValueError:
                errors.append(f"{var}: {environ[var]!r} is not a whole number")
                continue
            if not low <= found[name] <= high:
                errors.append(f"{var}: {found[name]} is not between {low} and {high}")
    if environ.get("BEACON_MONGO_URI"):
        found["mongo_uri"] = Secret(environ["BEACON_MONGO_URI"])
    if environ.get("BEACON_DATA_DIR"):
        found["data_dir"] = Path(environ["BEACON_DATA_DIR"])
    if errors:
        raise ConfigError(errors)
    return Settings(**found)


def _read_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read ({exc.strerror})"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML ({exc})"]) from exc
    found = problems(compile_schema("config"), data)
    if found:
        raise ConfigError([f"{path}: {problem}" for problem in found])
    return data


def _from_file(data: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    beacon = dict(data.get("beacon", {}))
    if beacon:
        organization = Organization(**beacon.pop("organization", {}))
        found["info"] = BeaconInfo(organization=organization, **beacon)
    server, database, limits = (
        data.get("server", {}),
        data.get("database", {}),
        data.get("limits", {}),
    )
    found.update({k: server[k] for k in ("host", "port") if k in server})
    if "name" in database:
        found["db_name"] = database["name"]
    if "data_dir" in database:
        found["data_dir"] = Path(database["data_dir"])
    if "catalog_ttl_seconds" in database:
        found["catalog_ttl"] = float(database["catalog_ttl_seconds"])
    if "cache_alleles" in database:
        found["cache_alleles"] = database["cache_alleles"]
    for key in ("max_body_bytes", "max_range_bases", "default_limit"):
        if key in limits:
            found[key] = limits[key]
    if "max_granularity" in limits:
        found["max_granularity"] = Granularity.parse(limits["max_granularity"])
    return found
