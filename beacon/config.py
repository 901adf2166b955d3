"""Settings: read once from BEACON_* environment variables and one TOML file, checked by schema."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from beacon.aggregator.delegation import Signer, SigningKeyError, load_signer
from beacon.auth import AccessPolicy, Tier
from beacon.errors import ConfigError
from beacon.privacy import Protection
from beacon.results import Granularity
from beacon.schemas import compile_schema, problems
from beacon.tokens import ALGORITHMS, AccessConfig, Issuer, VisaIssuer


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
    access: AccessConfig | None = None
    """Token issuers and visa issuers; None: every caller is anonymous, tokens are not read."""
    policy: AccessPolicy = field(default_factory=AccessPolicy)
    """Dataset tiers; not enforced without `[access]`."""
    k: int = 5
    """No count in 1..k-1 is shown below CONTROLLED access (`[privacy] k`)."""
    protection: Protection = field(default_factory=Protection)
    """The membership defences of each tier (`[privacy]`); they apply when `[access]` is set."""
    audit_file: Path | None = None
    """The audit log's JSON lines (`[audit] file`); default `<data_dir>/audit.jsonl`."""

    @property
    def audit_path(self) -> Path:
        return self.audit_file or self.data_dir / "audit.jsonl"


_ENV_INT = {"BEACON_PORT": ("port", 0, 65535)}
_ENV_STR = {"BEACON_DB": "db_name", "BEACON_HOST": "host"}


def load_settings(environ: Mapping[str, str], path: Path | None = None) -> Settings:
    """Environment variables override the file; raises ConfigError listing every problem."""
    data: dict[str, Any] = {}
    errors: list[str] = []
    if path:
        try:
            data = _read_file(path, "config")
        except ConfigError as exc:
            errors.extend(exc.problems)
    settings = _settings(environ, _from_file(data), errors)
    if errors:
        raise ConfigError(errors)
    return settings


def _settings(environ: Mapping[str, str], found: dict[str, Any], errors: list[str]) -> Settings:
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
    return Settings(**found)


def _read_file(path: Path, schema: str) -> dict[str, Any]:
    data = _parse(path)
    found = _schema_problems(path, schema, data)
    if found:
        raise ConfigError(found)
    return data


def _parse(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read ({exc.strerror})"]) from exc
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: not UTF-8 text"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML ({exc})"]) from exc


def _schema_problems(path: Path, schema: str, data: dict[str, Any]) -> list[str]:
    return [f"{path}: {problem}" for problem in problems(compile_schema(schema), data)]


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
        found["cache_alleles"] = int(database["cache_alleles"])
    for key in ("max_body_bytes", "max_range_bases", "default_limit"):
        if key in limits:
            found[key] = int(limits[key])
    if "max_granularity" in limits:
        found["max_granularity"] = Granularity.parse(limits["max_granularity"])
    if "file" in data.get("audit", {}):
        found["audit_file"] = Path(data["audit"]["file"])
    privacy = data.get("privacy", {})
    if "k" in privacy:
        found["k"] = int(privacy["k"])  # JSON Schema takes 5.0 as an integer
    found["protection"] = _protection(privacy)
    if "access" in data:
        found["access"] = _access(data["access"])
        found["policy"] = _policy(data["access"])
    return found


def _protection(section: dict[str, Any]) -> Protection:
    given: dict[str, Any] = {}
    for name, kind in (
        ("gate", bool),
        ("noise", bool),
        ("gate_error", float),
        ("risk_p", float),
        ("count_epsilon", float),
        ("count_budget", int),
        ("rate_per_minute", int),
        ("count_min_frequency", float),
    ):
        if name in section:
            given[name] = kind(section[name])
    return Protection(**given)


def _policy(section: dict[str, Any]) -> AccessPolicy:
    datasets = section.get("datasets", {})
    defaults = AccessPolicy().granularity
    given = section.get("tier_granularity", {})
    return AccessPolicy(
        enforced=True,
        default_level=Tier[section.get("default_tier", "PUBLIC")],
        levels={d: Tier[v["tier"]] for d, v in datasets.items() if "tier" in v},
        grants={d: v["grant"] for d, v in datasets.items() if "grant" in v},
        granularity=_rising({t: Granularity.parse(given[t.name]) if t.name in given else g
                             for t, g in defaults.items()}),
    )  # fmt: skip


def _rising(granularity: dict[Tier, Granularity]) -> dict[Tier, Granularity]:
    """A higher tier never gets less than a lower one (REGISTERED at least what PUBLIC gets)."""
    rising, best = {}, Granularity.BOOLEAN
    for tier in sorted(granularity):
        best = max(best, granularity[tier])
        rising[tier] = best
    return rising


def _access(section: dict[str, Any]) -> AccessConfig:
    issuers = tuple(
        Issuer(
            i["issuer"],
            i["jwks_url"],
            tuple(i.get("algorithms", ALGORITHMS)),
            bool(i.get("delegating", False)),
            i.get("userinfo_url"),
        )
        for i in section["issuers"]
    )
    visa_issuers = tuple(
        VisaIssuer(v["issuer"], v["jku"], frozenset(v["types"]))
        if "types" in v
        else VisaIssuer(v["issuer"], v["jku"])
        for v in section.get("visa_issuers", [])
    )
    leeway = float(section.get("leeway_seconds", 60))
    return AccessConfig(section["audience"], issuers, visa_issuers, leeway)


@dataclass(frozen=True)
class Member:
    """One member beacon of the network, as the operator configured it."""

    id: str
    country: str
    name: str
    url: str
    timeout: float = 3.0
    token: Secret | None = None
    audience: str | None = None
    """The `aud` of the aggregator's tokens for this member (default: its URL)."""

    @property
    def base(self) -> str:
        return self.url.rstrip("/")


@dataclass(frozen=True)
class NetworkConfig:
    """The aggregator's members and how it treats them; reloaded as a whole, never in part."""

    members: tuple[Member, ...]
    deadline: float = 5.0
    k: int = 5
    cache_entries: int = 10_000
    cache_ttl: float = 300.0
    versions_max_age: float = 1.0
    refresh: float = 60.0
    max_member_bytes: int = 5 * 1024 * 1024
    failures_to_open: int = 5
    probe_after: float = 30.0
    connections_per_member: int = 32
    token: Secret | None = None
    signer: Signer | None = None
    """The aggregator's own key: with it, members get per-caller tokens minted for them."""
    count_budget_per_day: int = 0
    """Count answers one person gets from the whole network per UTC day; 0: no network budget."""


AGGREGATOR_PORT = 5060
_NETWORK_KEYS = {
    "deadline_seconds": "deadline",
    "k": "k",
    "cache_entries": "cache_entries",
    "cache_ttl_seconds": "cache_ttl",
    "versions_max_age_seconds": "versions_max_age",
    "refresh_seconds": "refresh",
    "max_member_bytes": "max_member_bytes",
    "failures_to_open": "failures_to_open",
    "probe_after_seconds": "probe_after",
    "connections_per_member": "connections_per_member",
    "count_budget_per_day": "count_budget_per_day",
}


_SECONDS = ("deadline", "cache_ttl", "versions_max_age", "refresh", "probe_after")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,127}$")


def load_network(environ: Mapping[str, str], path: Path) -> tuple[Settings, NetworkConfig]:
    """The aggregator's settings and members from its TOML file (schemas/network.json).

    Raises ConfigError listing every problem: schema violations, duplicate member ids or URLs,
    tokens whose variable is unset or whose file is unreadable.
    """
    data = _parse(path)
    errors = _schema_problems(path, "network", data)
    schema_ok = not errors
    found = _from_file(data) if schema_ok else {}
    found.setdefault("port", AGGREGATOR_PORT)
    found.setdefault("max_granularity", Granularity.COUNT)
    settings = _settings(environ, found, errors)
    raw_section, raw_entries = data.get("network"), data.get("members")
    section: dict[str, Any] = raw_section if isinstance(raw_section, dict) else {}
    entries: list[dict[str, Any]] = [
        e for e in (raw_entries if isinstance(raw_entries, list) else []) if isinstance(e, dict)
    ]
    # Tokens, duplicates and the environment are checked even when the schema is not met, so
    # that one run reports every problem.
    token = _token(environ, section, "[network]", path.parent, errors)
    signer = _signer(section, path, errors)
    tokens = [
        _token(environ, e, f"members[{i}] ({e.get('id', '?')})", path.parent, errors)
        for i, e in enumerate(entries)
    ]
    for label in ("id", "url"):
        values = [str(e[label]).rstrip("/") for e in entries if isinstance(e.get(label), str)]
        repeated = sorted({v for v in values if values.count(v) > 1})
        errors += [f"{path}: member {label} {v!r} is given more than once" for v in repeated]
    if errors:
        raise ConfigError(errors)
    options: dict[str, Any] = {v: section[k] for k, v in _NETWORK_KEYS.items() if k in section}
    options.update({k: float(options[k]) for k in _SECONDS if k in options})
    members = tuple(
        Member(
            **{k: e[k] for k in ("id", "country", "name", "url")},
            timeout=float(e.get("timeout_seconds", 3.0)),
            token=t,
            audience=e.get("audience"),
        )
        for e, t in zip(entries, tokens, strict=True)
    )
    return settings, NetworkConfig(members=members, token=token, signer=signer, **options)


def _signer(section: Mapping[str, Any], path: Path, errors: list[str]) -> Signer | None:
    """The aggregator's signing key, when `signing_key_file` and `issuer` are given (both)."""
    key_file, issuer = section.get("signing_key_file"), section.get("issuer")
    if key_file is None and issuer is None:
        return None
    if not isinstance(key_file, str) or not isinstance(issuer, str):
        errors.append(f"{path}: [network] needs signing_key_file and issuer together")
        return None
    lifetime = section.get("token_lifetime_seconds", 60)
    if isinstance(lifetime, bool) or not isinstance(lifetime, int | float):
        return None  # the schema check reports it
    try:
        return load_signer(path.parent / key_file, issuer, float(lifetime))
    except SigningKeyError as exc:
        errors.append(f"{path}: [network] signing_key_file: {exc}")
        return None


def _token(
    environ: Mapping[str, str], entry: Mapping[str, Any], where: str, base: Path, errors: list[str]
) -> Secret | None:
    """A bearer token from an environment variable or a file, never from the config itself."""
    if "token_env" in entry and "token_file" in entry:
        errors.append(f"{where}: give token_env or token_file, not both")
        return None
    if "token_env" in entry:
        if not isinstance(entry["token_env"], str) or not _ENV_NAME.match(entry["token_env"]):
            return None  # the schema reports it, without echoing what may be a pasted token
        value = environ.get(entry["token_env"], "").strip()
        if not value:
            errors.append(f"{where}: environment variable {entry['token_env']} is not set")
            return None
        return Secret(value)
    if "token_file" in entry:
        if not isinstance(entry["token_file"], str):
            return None
        file = base / entry["token_file"]
        try:
            value = file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            errors.append(f"{where}: cannot read token_file {file} ({exc.strerror})")
            return None
        except UnicodeDecodeError:
            errors.append(f"{where}: token_file {file} is not UTF-8 text")
            return None
        if not value:
            errors.append(f"{where}: token_file {file} is empty")
            return None
        return Secret(value)
    return None
