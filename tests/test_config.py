"""Settings from BEACON_* variables and one TOML file (beacon.config)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from beacon.config import BeaconInfo, Organization, Secret, Settings, load_settings
from beacon.errors import ConfigError
from beacon.results import Granularity

URI = "mongodb://beacon:s3cret-pw@db.internal:27017/?authSource=admin"


def config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "beacon.toml"
    path.write_text(text)
    return path


def problems_of(environ: dict[str, str], path: Path | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ, path)
    assert str(caught.value) == "; ".join(caught.value.problems)
    return caught.value.problems


def test_defaults() -> None:
    settings = load_settings({})
    assert settings == Settings()
    assert settings.mongo_uri is None
    assert settings.db_name == "beacon"
    assert settings.data_dir == Path.home() / ".local/share/beacon"
    assert (settings.host, settings.port) == ("127.0.0.1", 5050)
    assert settings.info == BeaconInfo()
    assert settings.info.organization == Organization()
    assert settings.max_body_bytes == 65536
    assert settings.max_range_bases == 5_000_000
    assert settings.default_limit == 10
    assert settings.max_granularity is Granularity.RECORD
    assert settings.catalog_ttl == 1.0
    assert settings.cache_alleles == 50_000


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        load_settings({}).port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("environ", "field", "expected"),
    [
        ({"BEACON_PORT": "8080"}, "port", 8080),
        ({"BEACON_PORT": " 8080 "}, "port", 8080),
        ({"BEACON_PORT": "0"}, "port", 0),
        ({"BEACON_PORT": "65535"}, "port", 65535),
        ({"BEACON_PORT": ""}, "port", 5050),
        ({"BEACON_HOST": "0.0.0.0"}, "host", "0.0.0.0"),
        ({"BEACON_HOST": ""}, "host", "127.0.0.1"),
        ({"BEACON_DB": "beacon_prod"}, "db_name", "beacon_prod"),
        ({"BEACON_DATA_DIR": "/srv/beacon"}, "data_dir", Path("/srv/beacon")),
        ({"BEACON_MONGO_URI": URI}, "mongo_uri", Secret(URI)),
        ({"BEACON_MONGO_URI": ""}, "mongo_uri", None),
        ({"BEACON_UNRELATED": "x", "PORT": "1"}, "port", 5050),
    ],
)
def test_environment(environ: dict[str, str], field: str, expected: Any) -> None:
    assert getattr(load_settings(environ), field) == expected


FULL_FILE = """
[beacon]
id = "org.example.node-a"
name = "Node A"
environment = "prod"

[beacon.organization]
id = "uni-a"
name = "University A"
contact_url = "mailto:beacon@uni-a.example"

[server]
host = "0.0.0.0"
port = 6000

[database]
name = "node_a"
data_dir = "/var/lib/beacon"
catalog_ttl_seconds = 0
cache_alleles = 0

[limits]
max_body_bytes = 1024
max_range_bases = 1
default_limit = 1000
max_granularity = "count"
"""


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("host", "0.0.0.0"),
        ("port", 6000),
        ("db_name", "node_a"),
        ("data_dir", Path("/var/lib/beacon")),
        ("catalog_ttl", 0.0),
        ("cache_alleles", 0),
        ("max_body_bytes", 1024),
        ("max_range_bases", 1),
        ("default_limit", 1000),
        ("max_granularity", Granularity.COUNT),
        (
            "info",
            BeaconInfo(
                id="org.example.node-a",
                name="Node A",
                environment="prod",
                organization=Organization(
                    id="uni-a", name="University A", contact_url="mailto:beacon@uni-a.example"
                ),
            ),
        ),
        ("mongo_uri", None),
    ],
)
def test_file(tmp_path: Path, field: str, expected: Any) -> None:
    assert getattr(load_settings({}, config_file(tmp_path, FULL_FILE)), field) == expected


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    assert load_settings({}, config_file(tmp_path, "")) == Settings()


def test_catalog_ttl_is_a_float(tmp_path: Path) -> None:
    settings = load_settings({}, config_file(tmp_path, "[database]\ncatalog_ttl_seconds = 5\n"))
    assert type(settings.catalog_ttl) is float
    assert settings.catalog_ttl == 5.0


@pytest.mark.parametrize(
    ("environ", "field", "expected"),
    [
        ({"BEACON_PORT": "7000"}, "port", 7000),
        ({"BEACON_HOST": "10.0.0.1"}, "host", "10.0.0.1"),
        ({"BEACON_DB": "other"}, "db_name", "other"),
        ({"BEACON_DATA_DIR": "/tmp/b"}, "data_dir", Path("/tmp/b")),
        ({}, "port", 6000),
    ],
)
def test_environment_overrides_file(
    tmp_path: Path, environ: dict[str, str], field: str, expected: Any
) -> None:
    path = config_file(
        tmp_path, '[server]\nhost = "0.0.0.0"\nport = 6000\n[database]\nname = "node_a"\n'
    )
    assert getattr(load_settings(environ, path), field) == expected


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("abc", "BEACON_PORT: 'abc' is not a whole number"),
        ("80.5", "BEACON_PORT: '80.5' is not a whole number"),
        ("5050x", "BEACON_PORT: '5050x' is not a whole number"),
        ("70000", "BEACON_PORT: 70000 is not between 0 and 65535"),
        ("-1", "BEACON_PORT: -1 is not between 0 and 65535"),
    ],
)
def test_bad_port_in_environment(value: str, problem: str) -> None:
    assert problems_of({"BEACON_PORT": value}) == [problem]


def test_toml_syntax_error(tmp_path: Path) -> None:
    path = config_file(tmp_path, "[server\nport = 1\n")
    problems = problems_of({}, path)
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}: not valid TOML (")
    assert "line 1" in problems[0]


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    assert problems_of({}, path) == [f"{path}: cannot read (No such file or directory)"]


BAD_FILE = """
[beacon]
id = "-starts-with-dash"
environment = "production"

[beacon.organization]
id = "uni-a"

[server]
host = ""
port = 99999

[database]
name = "has space"
cache_alleles = -1
catalog_ttl_seconds = "soon"

[limits]
max_body_bytes = 10
default_limit = 0
max_granularity = "all"
"""


def test_every_schema_problem_reported_at_once(tmp_path: Path) -> None:
    path = config_file(tmp_path, BAD_FILE)
    assert problems_of({}, path) == [
        f"{path}: beacon/environment: 'production' is not one of "
        "['prod', 'test', 'dev', 'staging']",
        f"{path}: beacon/id: '-starts-with-dash' has characters that are not allowed",
        f"{path}: beacon/organization: 'name' is a required property",
        f"{path}: database/cache_alleles: -1 is less than the minimum of 0",
        f"{path}: database/catalog_ttl_seconds: 'soon' is not of type 'number'",
        f"{path}: database/name: 'has space' has characters that are not allowed",
        f"{path}: limits/default_limit: 0 is less than the minimum of 1",
        f"{path}: limits/max_body_bytes: 10 is less than the minimum of 1024",
        f"{path}: limits/max_granularity: 'all' is not one of ['boolean', 'count', 'record']",
        f"{path}: server/host: '' should be non-empty",
        f"{path}: server/port: 99999 is greater than the maximum of 65535",
    ]


def test_file_and_environment_problems_reported_together(tmp_path: Path) -> None:
    path = config_file(tmp_path, "[server]\nport = -5\n")
    assert problems_of({"BEACON_PORT": "http"}, path) == [
        f"{path}: server/port: -5 is less than the minimum of 0",
        "BEACON_PORT: 'http' is not a whole number",
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[datasets]\nfoo = 1\n", "(top level): unknown parameter(s) datasets"),
        ("debug = true\n", "(top level): unknown parameter(s) debug"),
        ("[server]\nhost = 'h'\nworkers = 4\n", "server: unknown parameter(s) workers"),
        ("[database]\nuri = 'mongodb://x'\n", "database: unknown parameter(s) uri"),
        ("[limits]\nskip = 1\npage = 2\n", "limits: unknown parameter(s) page, skip"),
        ("[beacon]\nlogo = 'x'\n", "beacon: unknown parameter(s) logo"),
        (
            "[beacon.organization]\nid = 'o'\nname = 'O'\nemail = 'e'\n",
            "beacon/organization: unknown parameter(s) email",
        ),
    ],
)  # fmt: skip
def test_unknown_keys_refused(tmp_path: Path, text: str, problem: str) -> None:
    path = config_file(tmp_path, text)
    assert problems_of({}, path) == [f"{path}: {problem}"]


def test_secret_is_masked() -> None:
    secret = Secret(URI)
    assert secret.value == URI
    assert repr(secret) == "Secret('***')"
    assert str(secret) == "Secret('***')"
    assert f"{secret}" == "Secret('***')"


def test_secret_never_shows_in_settings() -> None:
    settings = load_settings({"BEACON_MONGO_URI": URI})
    assert settings.mongo_uri == Secret(URI)
    assert "Secret('***')" in repr(settings)
    for shown in (repr(settings), str(settings), f"{settings}"):
        assert URI not in shown
        assert "s3cret-pw" not in shown


def test_secret_not_in_config_error() -> None:
    problems = problems_of({"BEACON_MONGO_URI": URI, "BEACON_PORT": "x"})
    assert problems == ["BEACON_PORT: 'x' is not a whole number"]
