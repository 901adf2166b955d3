"""The aggregator's own tokens for its members (beacon.aggregator.delegation) and the
`[network]` settings that give it a key: which keys are taken, what a minted token holds and
how it verifies, which visas go to which member, the subject a caller gets and when a token is
reused. Keys are generated here; nothing is served (tests/aggregator/test_delegation.py does it
over HTTP)."""

from __future__ import annotations

import base64
import json
import time
from functools import cache
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from beacon.aggregator.delegation import (
    BONA_FIDE_TYPES,
    Delegation,
    Signer,
    SigningKeyError,
    load_signer,
    relevant_visas,
)
from beacon.auth import ANONYMOUS, Principal
from beacon.config import NetworkConfig, load_network
from beacon.errors import ConfigError
from beacon.tokens import (
    BONA_FIDE,
    AccessConfig,
    Issuer,
    KeySets,
    Visa,
    pseudonym,
    verify_access_token,
)
from tests.auth_support import KeySetDocuments

ISSUER = "https://aggregator.example"
MEMBER = "https://se.beacon.example"
OTHER_MEMBER = "https://fi.beacon.example"
SUBJECT = pseudonym("https://idp-a.example", "alice")
GRANT_SE = "https://datasets.example/se-rare"
GRANT_FI = "https://datasets.example/fi-rare"

# --- keys ------------------------------------------------------------------------------------


@cache
def ec_key(curve: type[ec.EllipticCurve] = ec.SECP256R1) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(curve())


@cache
def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def pem(
    key: Any,
    form: serialization.PrivateFormat = serialization.PrivateFormat.PKCS8,
    password: bytes | None = None,
) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    found: bytes = key.private_bytes(serialization.Encoding.PEM, form, encryption)
    return found


def body_of(data: bytes) -> list[str]:
    """The base64 lines of a PEM file (what must never show in a message)."""
    return [line for line in data.decode().splitlines() if line and not line.startswith("-----")]


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# --- load_signer ---------------------------------------------------------------------------


TRADITIONAL = serialization.PrivateFormat.TraditionalOpenSSL


@pytest.mark.parametrize(
    ("make", "algorithm"),
    [
        (lambda: pem(ec_key()), "ES256"),
        (lambda: pem(ec_key(), TRADITIONAL), "ES256"),
        (lambda: pem(rsa_key()), "RS256"),
        (lambda: pem(rsa_key(), TRADITIONAL), "RS256"),
        (lambda: pem(rsa_key(3072)), "RS256"),
    ],
    ids=["ec-p256-pkcs8", "ec-p256-traditional", "rsa-2048", "rsa-2048-traditional", "rsa-3072"],
)
def test_usable_keys(make: Any, algorithm: str, tmp_path: Path) -> None:
    signer = load_signer(write(tmp_path / "key.pem", make()), ISSUER, 90.0)
    assert signer.algorithm == algorithm
    assert (signer.issuer, signer.lifetime) == (ISSUER, 90.0)
    assert signer.jwks()["keys"][0]["alg"] == algorithm


PUBLIC_PEM = (
    ec_key()
    .public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
)

UNUSABLE: dict[str, tuple[Any, str]] = {
    "rsa-1024": (lambda: pem(rsa_key(1024)), "use an EC P-256 key (ES256) or RSA of 2048 bits"),
    "ec-p384": (lambda: pem(ec_key(ec.SECP384R1)), "use an EC P-256 key"),
    "ec-p521": (lambda: pem(ec_key(ec.SECP521R1)), "use an EC P-256 key"),
    "ed25519": (
        lambda: pem(ed25519.Ed25519PrivateKey.generate()),
        "use an EC P-256 key",
    ),
    "encrypted-ec": (
        lambda: pem(ec_key(), password=b"correct horse"),
        "is not an unencrypted PEM private key",
    ),
    "encrypted-rsa": (
        lambda: pem(rsa_key(), TRADITIONAL, password=b"correct horse"),
        "is not an unencrypted PEM private key",
    ),
    "public-key-only": (lambda: PUBLIC_PEM, "is not an unencrypted PEM private key"),
    "garbage": (lambda: b"not a key at all\n", "is not an unencrypted PEM private key"),
    "pem-armour-garbage-inside": (
        lambda: (
            b"-----BEGIN PRIVATE KEY-----\nc2VjcmV0IHNlY3JldCBzZWNyZXQ=\n"
            b"-----END PRIVATE KEY-----\n"
        ),
        "is not an unencrypted PEM private key",
    ),
    "der-not-pem": (
        lambda: ec_key().private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        "is not an unencrypted PEM private key",
    ),
    "empty": (lambda: b"", "is not an unencrypted PEM private key"),
}


@pytest.mark.parametrize(("make", "reason"), UNUSABLE.values(), ids=list(UNUSABLE))
def test_unusable_keys(make: Any, reason: str, tmp_path: Path) -> None:
    """Refused with the file's name and why, never anything of what the file holds."""
    data = make()
    path = write(tmp_path / "key.pem", data)
    with pytest.raises(SigningKeyError) as caught:
        load_signer(path, ISSUER)
    message = str(caught.value)
    assert reason in message
    assert str(path) in message
    # No chained exception (a traceback would show the parser's view of the file).
    error = caught.value
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
    for line in body_of(data) if data.startswith(b"-----") else []:
        assert line not in message
    if data:
        assert data.decode(errors="ignore").strip() not in message


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "key.pem"
    with pytest.raises(SigningKeyError, match=r"cannot read .*key\.pem: No such file"):
        load_signer(path, ISSUER)


def test_directory_instead_of_a_file(tmp_path: Path) -> None:
    with pytest.raises(SigningKeyError, match="cannot read"):
        load_signer(tmp_path, ISSUER)


def test_the_key_never_shows_in_a_repr() -> None:
    signer = Signer(ISSUER, ec_key())
    shown = repr(signer) + repr(NetworkConfig(members=(), signer=signer))
    scalar = ec_key().private_numbers().private_value
    assert "key=" not in repr(signer)
    assert str(scalar) not in shown and format(scalar, "x") not in shown


# --- what a minted token is ----------------------------------------------------------------


SIGNERS = {"ec": lambda: Signer(ISSUER, ec_key()), "rsa": lambda: Signer(ISSUER, rsa_key())}


@pytest.mark.parametrize("kind", list(SIGNERS))
def test_jwks_publishes_the_public_half_only(kind: str) -> None:
    signer = SIGNERS[kind]()
    [jwk] = signer.jwks()["keys"]
    assert jwk["kid"] == signer.kid and jwk["use"] == "sig" and jwk["alg"] == signer.algorithm
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(jwk)
    if kind == "ec":
        assert (jwk["kty"], jwk["crv"]) == ("EC", "P-256")
    else:
        assert jwk["kty"] == "RSA"
    # The kid follows the key: another key, another kid; the same key, the same kid.
    assert Signer(ISSUER, ec_key()).kid == Signer("elsewhere", ec_key()).kid
    assert (
        Signer(ISSUER, ec.generate_private_key(ec.SECP256R1())).kid != Signer(ISSUER, ec_key()).kid
    )


def _segment(token: str, index: int) -> dict[str, Any]:
    part = token.split(".")[index]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


@pytest.mark.parametrize("kind", list(SIGNERS))
@pytest.mark.parametrize("visas", [[], ["v1.jwt.a", "v2.jwt.b"]], ids=["no-visas", "visas"])
def test_minted_token_verifies_with_the_jwks(kind: str, visas: list[str]) -> None:
    """PyJWT, given only the published JWK, verifies it; the claims are exactly these."""
    signer = SIGNERS[kind]()
    at = time.time()
    token = signer.mint(SUBJECT, MEMBER, visas, at)
    header = _segment(token, 0)
    assert header["kid"] == signer.kid and header["alg"] == signer.algorithm
    [jwk] = signer.jwks()["keys"]
    claims = jwt.decode(
        token,
        jwt.PyJWK(jwk),
        algorithms=[signer.algorithm],
        audience=MEMBER,
        issuer=ISSUER,
        options={"require": ["exp", "iat", "iss", "sub", "aud"]},
    )
    expected = {"iss": ISSUER, "sub": SUBJECT, "aud": MEMBER, "iat": int(at)}
    expected["exp"] = int(at + signer.lifetime)
    if visas:
        expected["ga4gh_passport_v1"] = visas
    assert claims == expected


def test_a_token_does_not_verify_with_another_key() -> None:
    token = Signer(ISSUER, ec_key()).mint(SUBJECT, MEMBER, [], time.time())
    other = Signer(ISSUER, ec.generate_private_key(ec.SECP256R1()))
    [jwk] = other.jwks()["keys"]
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, jwt.PyJWK(jwk), algorithms=["ES256"], audience=MEMBER)


async def test_a_delegating_member_takes_the_sub_as_it_is() -> None:
    """beacon.tokens, with the aggregator as a delegating issuer, sees the same pseudonym the
    caller has when asking directly; without `delegating` it would hash it again."""
    signer = Signer(ISSUER, ec_key())
    jwks = "https://aggregator.example/.well-known/jwks.json"
    token = signer.mint(SUBJECT, MEMBER, [], time.time())
    delegating = AccessConfig(MEMBER, (Issuer(ISSUER, jwks, ("ES256",), delegating=True),))
    plain = AccessConfig(MEMBER, (Issuer(ISSUER, jwks, ("ES256",)),))
    key_sets = KeySets(KeySetDocuments({jwks: signer.jwks()}))
    assert (await verify_access_token(token, delegating, key_sets)).subject == SUBJECT
    assert (await verify_access_token(token, plain, key_sets)).subject == pseudonym(ISSUER, SUBJECT)


# --- which visas a member gets ------------------------------------------------------------


def _visa(kind: str, value: str) -> Visa:
    return Visa(kind, value, f"jwt-of-{kind}-{value}")


TERMS = _visa("AcceptedTermsAndPolicies", BONA_FIDE)
STATUS = _visa("ResearcherStatus", BONA_FIDE)
ODD_TERMS = _visa("AcceptedTermsAndPolicies", "https://other-policy.example")
SE_GRANT = _visa("ControlledAccessGrants", GRANT_SE)
FI_GRANT = _visa("ControlledAccessGrants", GRANT_FI)
ID_GRANT = _visa("ControlledAccessGrants", "se-rare")
ROLE = _visa("AffiliationAndRole", "faculty@uni.example")
LINKED = _visa("LinkedIdentities", "123,https://idp.example")
EVERY_VISA = (TERMS, STATUS, ODD_TERMS, SE_GRANT, FI_GRANT, ID_GRANT, ROLE, LINKED)


@pytest.mark.parametrize(
    ("visas", "grants", "passed"),
    [
        ((), frozenset({GRANT_SE}), []),
        ((TERMS, STATUS), frozenset(), [TERMS, STATUS]),
        (EVERY_VISA, frozenset(), [TERMS, STATUS, ODD_TERMS]),
        (EVERY_VISA, frozenset({GRANT_SE}), [TERMS, STATUS, ODD_TERMS, SE_GRANT]),
        (EVERY_VISA, frozenset({GRANT_FI}), [TERMS, STATUS, ODD_TERMS, FI_GRANT]),
        (
            EVERY_VISA,
            frozenset({GRANT_SE, GRANT_FI}),
            [TERMS, STATUS, ODD_TERMS, SE_GRANT, FI_GRANT],
        ),
        ((SE_GRANT,), frozenset({GRANT_FI}), []),
        ((ID_GRANT,), frozenset({GRANT_SE}), []),  # a bare id is not the member's grant URL
        ((ROLE, LINKED), frozenset({ROLE.value, LINKED.value}), []),  # never other types
        ((SE_GRANT, TERMS), frozenset({GRANT_SE}), [SE_GRANT, TERMS]),  # in the caller's order
    ],
    ids=[
        "none",
        "bona-fide",
        "no-grants-listed",
        "se-grant",
        "fi-grant",
        "both-grants",
        "grant-of-another-member",
        "grant-by-id",
        "other-types-never",
        "order-kept",
    ],
)
def test_relevant_visas(
    visas: tuple[Visa, ...], grants: frozenset[str], passed: list[Visa]
) -> None:
    caller = Principal(SUBJECT, visas=visas)
    assert relevant_visas(caller, grants) == [v.jwt for v in passed]


def test_bona_fide_types() -> None:
    assert frozenset({"AcceptedTermsAndPolicies", "ResearcherStatus"}) == BONA_FIDE_TYPES


# --- the subject a caller gets -------------------------------------------------------------


def test_a_pseudonym_passes_through() -> None:
    delegation = Delegation(Signer(ISSUER, ec_key()))
    assert delegation.subject(Principal(SUBJECT), "192.0.2.7") == SUBJECT
    assert delegation.subject(Principal(SUBJECT, bona_fide=True), "198.51.100.1") == SUBJECT


def test_anonymous_subjects() -> None:
    """Stable per address within one Delegation, different between addresses and between two
    Delegations (the key is per process), never holding the address itself."""
    first, second = Delegation(Signer(ISSUER, ec_key())), Delegation(Signer(ISSUER, ec_key()))
    addresses = ["192.0.2.7", "192.0.2.8", "2001:db8::1", ""]
    subjects = [first.subject(ANONYMOUS, a) for a in addresses]
    assert subjects == [first.subject(ANONYMOUS, a) for a in addresses]
    assert len(set(subjects)) == len(addresses)
    for subject, address in zip(subjects, addresses, strict=True):
        hex_part = subject.removeprefix("anonymous:")
        assert subject.startswith("anonymous:") and len(hex_part) == 32
        assert int(hex_part, 16) >= 0 and hex_part == hex_part.lower()
        assert not address or address not in subject
        assert second.subject(ANONYMOUS, address) != subject


# --- minting and reuse ---------------------------------------------------------------------


def test_a_token_is_reused_within_half_its_lifetime() -> None:
    delegation = Delegation(Signer(ISSUER, ec_key(), lifetime=60.0))
    token = delegation.token(SUBJECT, MEMBER, ["v"])
    assert delegation.token(SUBJECT, MEMBER, ["v"]) == token
    # Anything different is another token (ECDSA signatures differ even for equal claims).
    others = {
        delegation.token("anonymous:" + "0" * 32, MEMBER, ["v"]),
        delegation.token(SUBJECT, OTHER_MEMBER, ["v"]),
        delegation.token(SUBJECT, MEMBER, []),
        delegation.token(SUBJECT, MEMBER, ["v", "w"]),
    }
    assert token not in others and len(others) == 4
    assert _segment(delegation.token(SUBJECT, OTHER_MEMBER, ["v"]), 1)["aud"] == OTHER_MEMBER


def test_a_token_past_half_its_lifetime_is_minted_again() -> None:
    delegation = Delegation(Signer(ISSUER, ec_key(), lifetime=1.0))
    token = delegation.token(SUBJECT, MEMBER, [])
    assert delegation.token(SUBJECT, MEMBER, []) == token
    time.sleep(0.55)
    fresh = delegation.token(SUBJECT, MEMBER, [])
    assert fresh != token
    assert delegation.token(SUBJECT, MEMBER, []) == fresh


def test_reused_tokens_are_bounded() -> None:
    """Past `entries` the least recently minted is forgotten (minted again when asked)."""
    delegation = Delegation(Signer(ISSUER, ec_key()), entries=2)
    one = delegation.token(SUBJECT, "https://one.example", [])
    two = delegation.token(SUBJECT, "https://two.example", [])
    three = delegation.token(SUBJECT, "https://three.example", [])
    assert delegation.token(SUBJECT, "https://three.example", []) == three
    assert delegation.token(SUBJECT, "https://one.example", []) != one
    # one came back and pushed two out.
    assert delegation.token(SUBJECT, "https://two.example", []) != two


# --- [network] signing_key_file and issuer --------------------------------------------------


MEMBERS = """
[[members]]
id = "se"
country = "SE"
name = "Sweden"
url = "http://127.0.0.1:5051/"

[[members]]
id = "fi"
country = "FI"
name = "Finland"
url = "http://127.0.0.1:5052"
audience = "https://beacon.example/fi"
"""


def network_file(path: Path, network: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"[network]\n{network}\n{MEMBERS}")
    return path


def test_signer_from_the_network_file(tmp_path: Path) -> None:
    """A relative key path is read next to the config file, wherever we run from."""
    key = write(tmp_path / "conf" / "keys" / "aggregator.pem", pem(ec_key()))
    path = network_file(
        tmp_path / "conf" / "network.toml",
        f'signing_key_file = "keys/aggregator.pem"\nissuer = "{ISSUER}"\n'
        "token_lifetime_seconds = 120",
    )
    _, network = load_network({}, path)
    assert network.signer is not None
    assert (network.signer.issuer, network.signer.lifetime) == (ISSUER, 120.0)
    assert network.signer.algorithm == "ES256"
    assert network.signer.jwks() == load_signer(key, ISSUER).jwks()
    assert [m.audience for m in network.members] == [None, "https://beacon.example/fi"]


def test_absolute_key_path_and_default_lifetime(tmp_path: Path) -> None:
    key = write(tmp_path / "elsewhere" / "rsa.pem", pem(rsa_key()))
    path = network_file(
        tmp_path / "conf" / "network.toml", f'signing_key_file = "{key}"\nissuer = "{ISSUER}"'
    )
    _, network = load_network({}, path)
    assert network.signer is not None
    assert (network.signer.algorithm, network.signer.lifetime) == ("RS256", 60.0)


def test_no_signer_without_the_settings(tmp_path: Path) -> None:
    _, network = load_network({}, network_file(tmp_path / "network.toml", "k = 5"))
    assert network.signer is None


@pytest.mark.parametrize(
    "given",
    ['signing_key_file = "aggregator.pem"', f'issuer = "{ISSUER}"'],
    ids=["key-without-issuer", "issuer-without-key"],
)
def test_one_without_the_other(given: str, tmp_path: Path) -> None:
    write(tmp_path / "aggregator.pem", pem(ec_key()))
    with pytest.raises(ConfigError) as caught:
        load_network({}, network_file(tmp_path / "network.toml", given))
    [problem] = caught.value.problems
    assert "signing_key_file" in problem and "issuer" in problem and "together" in problem


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (lambda: pem(rsa_key(1024)), "use an EC P-256 key (ES256) or RSA of 2048 bits or more"),
        (lambda: pem(ec_key(), password=b"pw"), "is not an unencrypted PEM private key"),
        (lambda: b"garbage", "is not an unencrypted PEM private key"),
        (None, "cannot read"),
    ],
    ids=["rsa-1024", "encrypted", "garbage", "missing"],
)
def test_a_bad_key_file(data: Any, reason: str, tmp_path: Path) -> None:
    """Reported with every other problem of the file, naming the setting and the file; never
    anything the file holds."""
    written = data() if data else b""
    if data:
        write(tmp_path / "aggregator.pem", written)
    text = f'signing_key_file = "aggregator.pem"\nissuer = "{ISSUER}"\nk = 0'
    with pytest.raises(ConfigError) as caught:
        load_network({}, network_file(tmp_path / "network.toml", text))
    [key_problem] = [p for p in caught.value.problems if "signing_key_file" in p]
    assert "[network] signing_key_file" in key_problem and reason in key_problem
    assert str(tmp_path / "aggregator.pem") in key_problem
    assert any("network/k: 0 is less than the minimum" in p for p in caught.value.problems)
    for line in body_of(written) if written.startswith(b"-----") else []:
        assert line not in str(caught.value)


@pytest.mark.parametrize("lifetime", ['"sixty"', "[60]", "5", "7200"])
def test_a_bad_token_lifetime_is_a_config_error(lifetime: str, tmp_path: Path) -> None:
    """token_lifetime_seconds out of range or not a number is reported like any other schema
    problem (a ConfigError, so `beacon aggregate --check` and a reload say what is wrong)."""
    write(tmp_path / "aggregator.pem", pem(ec_key()))
    text = (
        f'signing_key_file = "aggregator.pem"\nissuer = "{ISSUER}"\n'
        f"token_lifetime_seconds = {lifetime}"
    )
    with pytest.raises(ConfigError) as caught:
        load_network({}, network_file(tmp_path / "network.toml", text))
    assert any("token_lifetime_seconds" in p for p in caught.value.problems)
