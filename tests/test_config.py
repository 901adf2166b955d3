"""Settings from BEACON_* variables and one TOML file (beacon.config)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from beacon.config import (
    BeaconInfo,
    Member,
    NetworkConfig,
    Organization,
    Secret,
    Settings,
    load_network,
    load_settings,
)
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


# The aggregator's network file (load_network): members, tokens, every problem at once.

SE_TOKEN = "se-token-4f1c9a7e"
FI_TOKEN = "fi-token-b82d03aa"
NET_TOKEN = "network-token-77e0c2d1"
TOKENS = {"FI_TOKEN": FI_TOKEN, "NETWORK_TOKEN": NET_TOKEN}

FULL_NETWORK = """
[beacon]
id = "eu.network"
name = "EU network"

[server]
host = "0.0.0.0"
port = 7000

[limits]
max_granularity = "record"

[network]
deadline_seconds = 2.5
k = 10
cache_entries = 100
cache_ttl_seconds = 60.5
versions_max_age_seconds = 0.5
refresh_seconds = 30.5
max_member_bytes = 2048
failures_to_open = 3
probe_after_seconds = 10.5
connections_per_member = 8
token_env = "NETWORK_TOKEN"

[[members]]
id = "se"
country = "SE"
name = "Sweden"
url = "https://beacon.se.example/api/"
timeout_seconds = 2.5
token_file = "tokens/se.token"

[[members]]
id = "fi"
country = "FI"
name = "Finland"
url = "http://127.0.0.1:5050"
token_env = "FI_TOKEN"

[[members]]
id = "no.uio_1"
country = "NO"
name = "Norway"
url = "http://beacon.no.example:8080/beacon"
"""

MINIMAL_NETWORK = """
[[members]]
id = "se"
country = "SE"
name = "Sweden"
url = "http://127.0.0.1:5050"
"""


def network_file(tmp_path: Path, text: str, tokens: dict[str, str] | None = None) -> Path:
    """`network.toml` in `tmp_path`, with token files (relative name -> contents) beside it."""
    for name, contents in (tokens or {}).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(contents)
    path = tmp_path / "network.toml"
    path.write_text(text)
    return path


def network_problems(environ: dict[str, str], path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_network(environ, path)
    assert str(caught.value) == "; ".join(caught.value.problems)
    return caught.value.problems


def test_full_network_file(tmp_path: Path) -> None:
    path = network_file(tmp_path, FULL_NETWORK, {"tokens/se.token": f"{SE_TOKEN}\n"})
    settings, network = load_network(TOKENS, path)
    assert (settings.host, settings.port) == ("0.0.0.0", 7000)
    assert settings.max_granularity is Granularity.RECORD
    assert (settings.info.id, settings.info.name) == ("eu.network", "EU network")
    assert network == NetworkConfig(
        members=(
            Member(
                "se",
                "SE",
                "Sweden",
                "https://beacon.se.example/api/",
                timeout=2.5,
                token=Secret(SE_TOKEN),
            ),
            Member("fi", "FI", "Finland", "http://127.0.0.1:5050", token=Secret(FI_TOKEN)),
            Member("no.uio_1", "NO", "Norway", "http://beacon.no.example:8080/beacon"),
        ),
        deadline=2.5,
        k=10,
        cache_entries=100,
        cache_ttl=60.5,
        versions_max_age=0.5,
        refresh=30.5,
        max_member_bytes=2048,
        failures_to_open=3,
        probe_after=10.5,
        connections_per_member=8,
        token=Secret(NET_TOKEN),
    )
    assert network.members[0].base == "https://beacon.se.example/api"


def test_network_defaults(tmp_path: Path) -> None:
    settings, network = load_network({}, network_file(tmp_path, MINIMAL_NETWORK))
    assert settings == Settings(port=5060, max_granularity=Granularity.COUNT)
    assert network == NetworkConfig(
        members=(Member("se", "SE", "Sweden", "http://127.0.0.1:5050"),)
    )
    assert (network.deadline, network.k) == (5.0, 5)
    assert (network.cache_entries, network.cache_ttl) == (10_000, 300.0)
    assert (network.versions_max_age, network.refresh) == (1.0, 60.0)
    assert network.max_member_bytes == 5 * 1024 * 1024
    assert (network.failures_to_open, network.probe_after) == (5, 30.0)
    assert network.connections_per_member == 32
    assert network.token is None
    assert (network.members[0].timeout, network.members[0].token) == (3.0, None)


@pytest.mark.parametrize(
    ("environ", "server", "port"),
    [
        ({}, "", 5060),
        ({"BEACON_PORT": "8000"}, "", 8000),
        ({"BEACON_PORT": ""}, "", 5060),
        ({}, "[server]\nport = 7000\n", 7000),
        ({"BEACON_PORT": "8000"}, "[server]\nport = 7000\n", 8000),
    ],
)
def test_network_port(tmp_path: Path, environ: dict[str, str], server: str, port: int) -> None:
    settings, _ = load_network(environ, network_file(tmp_path, server + MINIMAL_NETWORK))
    assert settings.port == port


def test_network_environment_overrides(tmp_path: Path) -> None:
    environ = {"BEACON_HOST": "10.0.0.1", "BEACON_PORT": "8000"}
    text = '[server]\nhost = "0.0.0.0"\n' + MINIMAL_NETWORK
    settings, _ = load_network(environ, network_file(tmp_path, text))
    assert (settings.host, settings.port) == ("10.0.0.1", 8000)


def member(member_id: str = "se", *, url: str = "", extra: str = "") -> str:
    """One `[[members]]` table; its URL is unique per id unless given."""
    url = url or f"http://127.0.0.1:5050/{member_id}"
    return (
        f'\n[[members]]\nid = "{member_id}"\ncountry = "SE"\nname = "{member_id}"\n'
        f'url = "{url}"\n{extra}'
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "(top level): 'members' is a required property"),
        ("members = []\n", "members: [] should be non-empty"),
        (
            member().replace('"SE"', '"se"'),
            "members/0/country: 'se' has characters that are not allowed",
        ),
        (
            member().replace('"SE"', '"SWE"'),
            "members/0/country: 'SWE' has characters that are not allowed",
        ),
        (
            member().replace('url = "http://127.0.0.1:5050/se"', ""),
            "members/0: 'url' is a required property",
        ),
        (
            member(url="ftp://beacon.se.example"),
            "members/0/url: 'ftp://beacon.se.example' has characters that are not allowed",
        ),
        (
            member(url="beacon.se.example"),
            "members/0/url: 'beacon.se.example' has characters that are not allowed",
        ),
        (member(extra="weight = 2\n"), "members/0: unknown parameter(s) weight"),
        (member(extra='token = "abc"\n'), "members/0: unknown parameter(s) token"),
        (
            member(extra="timeout_seconds = 0\n"),
            "members/0/timeout_seconds: 0 is less than or equal to the minimum of 0",
        ),
        (
            "[network]\ndeadline_seconds = 0\n" + member(),
            "network/deadline_seconds: 0 is less than or equal to the minimum of 0",
        ),
        ("[network]\nk = 0\n" + member(), "network/k: 0 is less than the minimum of 1"),
        ("[network]\nretries = 3\n" + member(), "network: unknown parameter(s) retries"),
        ("[database]\nname = 'x'\n" + member(), "(top level): unknown parameter(s) database"),
        (
            member("se", url="http://127.0.0.1:1/a") + member("se", url="http://127.0.0.1:1/b"),
            "member id 'se' is given more than once",
        ),
        (
            member("se", url="http://127.0.0.1:1/a") + member("fi", url="http://127.0.0.1:1/a/"),
            "member url 'http://127.0.0.1:1/a' is given more than once",
        ),
    ],
)
def test_one_network_problem(tmp_path: Path, text: str, problem: str) -> None:
    path = network_file(tmp_path, text)
    assert network_problems({}, path) == [f"{path}: {problem}"]


@pytest.mark.parametrize(
    ("environ", "extra", "tokens", "problem"),
    [
        ({}, 'token_env = "SE_TOKEN"\n', {}, "environment variable SE_TOKEN is not set"),
        (
            {"SE_TOKEN": "  \n"},
            'token_env = "SE_TOKEN"\n',
            {},
            "environment variable SE_TOKEN is not set",
        ),
        (
            {},
            'token_file = "se.token"\n',
            {},
            "cannot read token_file {dir}/se.token (No such file or directory)",
        ),
        ({}, 'token_file = "se.token"\n', {"se.token": ""}, "token_file {dir}/se.token is empty"),
        (
            {},
            'token_file = "se.token"\n',
            {"se.token": " \n\n"},
            "token_file {dir}/se.token is empty",
        ),
        (
            {"SE_TOKEN": SE_TOKEN},
            'token_env = "SE_TOKEN"\ntoken_file = "se.token"\n',
            {"se.token": SE_TOKEN},
            "give token_env or token_file, not both",
        ),
    ],
)
def test_token_problems(
    tmp_path: Path, environ: dict[str, str], extra: str, tokens: dict[str, str], problem: str
) -> None:
    path = network_file(tmp_path, member("se", extra=extra), tokens)
    problems = network_problems(environ, path)
    assert problems == [f"members[0] (se): {problem.format(dir=tmp_path)}"]
    assert SE_TOKEN not in str(problems)


@pytest.mark.parametrize(
    ("environ", "section", "tokens", "problem"),
    [
        ({}, 'token_env = "NETWORK_TOKEN"', {}, "environment variable NETWORK_TOKEN is not set"),
        (
            {},
            'token_file = "net.token"',
            {"net.token": "\n"},
            "token_file {dir}/net.token is empty",
        ),
    ],
)
def test_network_token_problems(
    tmp_path: Path, environ: dict[str, str], section: str, tokens: dict[str, str], problem: str
) -> None:
    path = network_file(tmp_path, f"[network]\n{section}\n" + member(), tokens)
    assert network_problems(environ, path) == [f"[network]: {problem.format(dir=tmp_path)}"]


def test_network_file_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    assert network_problems({}, path) == [f"{path}: cannot read (No such file or directory)"]
    path = network_file(tmp_path, "[[members]\n")
    assert network_problems({}, path)[0].startswith(f"{path}: not valid TOML (")


BAD_NETWORK = """
[network]
deadline_seconds = 0
k = 0
retries = 3

[[members]]
id = "se"
country = "Sweden"
name = "Sweden"
url = "ftp://beacon.se.example"
token = "inline-secret"

[[members]]
id = "fi"
country = "FI"
name = "Finland"
"""


def test_every_schema_problem_in_a_network_file_at_once(tmp_path: Path) -> None:
    path = network_file(tmp_path, BAD_NETWORK)
    assert network_problems({}, path) == [
        f"{path}: members/0/country: 'Sweden' has characters that are not allowed",
        f"{path}: members/0/url: 'ftp://beacon.se.example' has characters that are not allowed",
        f"{path}: members/0: unknown parameter(s) token",
        f"{path}: members/1: 'url' is a required property",
        f"{path}: network/deadline_seconds: 0 is less than or equal to the minimum of 0",
        f"{path}: network/k: 0 is less than the minimum of 1",
        f"{path}: network: unknown parameter(s) retries",
    ]


def test_every_member_problem_at_once(tmp_path: Path) -> None:
    text = (
        '[network]\ntoken_env = "NETWORK_TOKEN"\n'
        + member("se", url="http://127.0.0.1:1/a", extra='token_env = "SE_TOKEN"\n')
        + member("fi", url="http://127.0.0.1:1/a/", extra='token_file = "fi.token"\n')
        + member("se", url="http://127.0.0.1:1/b", extra='token_file = "missing.token"\n')
        + member("dk", extra='token_env = "DK_TOKEN"\ntoken_file = "dk.token"\n')
    )
    path = network_file(tmp_path, text, {"fi.token": "", "dk.token": "x"})
    assert network_problems({"BEACON_PORT": "http", "DK_TOKEN": "y"}, path) == [
        "BEACON_PORT: 'http' is not a whole number",
        "[network]: environment variable NETWORK_TOKEN is not set",
        "members[0] (se): environment variable SE_TOKEN is not set",
        f"members[1] (fi): token_file {tmp_path}/fi.token is empty",
        f"members[2] (se): cannot read token_file {tmp_path}/missing.token "
        "(No such file or directory)",
        "members[3] (dk): give token_env or token_file, not both",
        f"{path}: member id 'se' is given more than once",
        f"{path}: member url 'http://127.0.0.1:1/a' is given more than once",
    ]


def test_schema_and_member_problems_reported_together(tmp_path: Path) -> None:
    """One bad field must not hide the unset token and the repeated id (STYLE: all at once)."""
    text = (
        member("se").replace('"SE"', '"Sweden"')
        + member("fi", extra='token_env = "FI_TOKEN"\n')
        + member("fi", url="http://127.0.0.1:1/other")
    )
    path = network_file(tmp_path, text)
    assert network_problems({}, path) == [
        f"{path}: members/0/country: 'Sweden' has characters that are not allowed",
        "members[1] (fi): environment variable FI_TOKEN is not set",
        f"{path}: member id 'fi' is given more than once",
    ]


@pytest.mark.parametrize(
    ("environ", "extra", "tokens"),
    [
        ({"SE_TOKEN": SE_TOKEN}, 'token_env = "SE_TOKEN"\n', {}),
        ({"SE_TOKEN": f" {SE_TOKEN}\n"}, 'token_env = "SE_TOKEN"\n', {}),
        ({}, 'token_file = "se.token"\n', {"se.token": SE_TOKEN}),
        ({}, 'token_file = "se.token"\n', {"se.token": f"{SE_TOKEN}\n\n"}),
        ({}, 'token_file = "keys/se.token"\n', {"keys/se.token": SE_TOKEN}),
    ],
)
def test_token_is_a_masked_secret(
    tmp_path: Path, environ: dict[str, str], extra: str, tokens: dict[str, str]
) -> None:
    path = network_file(tmp_path, member("se", extra=extra), tokens)
    settings, network = load_network(environ, path)
    assert network.members[0].token == Secret(SE_TOKEN)
    assert "Secret('***')" in repr(network.members[0])
    for shown in (repr(network), str(network), f"{network}", repr(settings), repr(network.members)):
        assert SE_TOKEN not in shown


def test_token_file_given_as_absolute_path(tmp_path: Path) -> None:
    token = tmp_path / "elsewhere" / "se.token"
    token.parent.mkdir()
    token.write_text(SE_TOKEN)
    (tmp_path / "conf").mkdir()
    path = network_file(tmp_path / "conf", member("se", extra=f'token_file = "{token}"\n'))
    _, network = load_network({}, path)
    assert network.members[0].token == Secret(SE_TOKEN)


def test_tokens_never_in_config_errors(tmp_path: Path) -> None:
    """A config with good tokens and some other problem: the error names no token."""
    text = (
        '[network]\ntoken_env = "NETWORK_TOKEN"\n'
        + member("se", extra='token_file = "se.token"\n')
        + member("se", extra='token_env = "FI_TOKEN"\n')
    )
    path = network_file(tmp_path, text, {"se.token": SE_TOKEN})
    with pytest.raises(ConfigError) as caught:
        load_network({**TOKENS, "BEACON_PORT": "x"}, path)
    shown = f"{caught.value} {caught.value!r} {caught.value.problems}"
    assert "given more than once" in shown
    for token in (SE_TOKEN, FI_TOKEN, NET_TOKEN):
        assert token not in shown


def test_token_pasted_in_place_of_a_variable_name_never_shown(tmp_path: Path) -> None:
    """An operator who pastes the token itself as `token_env` must not find it in the logs."""
    path = network_file(tmp_path, member("se", extra=f'token_env = "{SE_TOKEN}"\n'))
    problems = network_problems({}, path)
    assert any("members/0/token_env" in p for p in problems)
    assert [p for p in problems if SE_TOKEN in p] == []


@pytest.mark.parametrize(
    ("config", "tokens"),
    [
        pytest.param(
            member("se", extra='token_file = "se.token"\n').encode(),
            {"se.token": b"\xff\xfe"},
            id="token_file",
        ),
        pytest.param(b"# \xff\n" + member("se").encode(), {}, id="config"),
    ],
)
def test_undecodable_file_is_a_config_error(
    tmp_path: Path, config: bytes, tokens: dict[str, bytes]
) -> None:
    """Bytes that are not UTF-8 are a problem to report, not a traceback."""
    for name, contents in tokens.items():
        (tmp_path / name).write_bytes(contents)
    path = tmp_path / "network.toml"
    path.write_bytes(config)
    assert len(network_problems({}, path)) == 1


def test_a_higher_tier_never_gets_less_than_a_lower_one(tmp_path: Path) -> None:
    from beacon.auth import Tier

    path = config_file(
        tmp_path,
        '[access]\naudience = "https://b.example"\n'
        '[[access.issuers]]\nissuer = "https://idp.example"\n'
        'jwks_url = "https://idp.example/jwks"\n'
        '[access.tier_granularity]\nPUBLIC = "count"\nREGISTERED = "boolean"\n'
        'CONTROLLED = "boolean"\n',
    )
    granularity = load_settings({}, path).policy.granularity
    assert granularity == {
        Tier.PUBLIC: Granularity.COUNT,
        Tier.REGISTERED: Granularity.COUNT,
        Tier.CONTROLLED: Granularity.COUNT,
    }


def test_every_privacy_setting_is_read(tmp_path: Path) -> None:
    """Each `[privacy]` key reaches Settings (a key the schema accepts but the loader drops
    would silently keep a default the operator turned off)."""
    from beacon.privacy import Protection

    given = {
        "gate": False,
        "noise": False,
        "gate_error": 0.01,
        "risk_p": 0.1,
        "count_epsilon": 0.3,
        "count_budget": 7,
        "count_min_frequency": 0.02,
        "rate_per_minute": 9,
    }
    lines = [f"{k} = {str(v).lower() if isinstance(v, bool) else v}" for k, v in given.items()]
    path = tmp_path / "beacon.toml"
    path.write_text("[privacy]\nk = 3\n" + "\n".join(lines) + "\n")
    settings = load_settings({}, path)
    assert settings.k == 3
    assert settings.protection == Protection(**given)  # type: ignore[arg-type]
    assert set(given) | {"history_max"} == {f.name for f in dataclasses.fields(Protection)}
