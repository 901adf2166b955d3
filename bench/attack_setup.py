"""One measured configuration, served: its node TOML (and network TOML), a fresh database with the
ingested cohort and the reference frequencies, the node, perhaps an aggregator in front.

The [privacy] keys written are only those the node's schema knows, so the naive configuration
runs on any version of the node; a configuration the node cannot parse is reported with the
node's own words (`beacon config check`).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attack_auth import Provider
from attack_run import beacon_process, free_port, run_beacon
from pymongo import AsyncMongoClient

from beacon.config import load_settings
from beacon.ingest.load import ingest_vcf

DATASET = "uk1"
SCHEMA = Path(__file__).resolve().parent.parent / "schemas" / "config.json"


class SetupError(Exception):
    """The node refused this configuration, or a step before serving failed (message says)."""


@dataclass(frozen=True)
class Row:
    """One line of the table: a configuration, the answers asked for, and the path."""

    key: str
    tier: str
    """naive (no [access], k = 1), PUBLIC (anonymous) or REGISTERED (bona fide caller)."""
    counts: bool
    aggregator: bool = False

    @property
    def access(self) -> bool:
        return self.tier != "naive"

    @property
    def label(self) -> str:
        caller = {"naive": "naive (k = 1, no [access])", "PUBLIC": "PUBLIC, anonymous",
                  "REGISTERED": "REGISTERED, new user per person"}[self.tier]  # fmt: skip
        return f"{caller} via {'aggregator' if self.aggregator else 'node'}"


ROWS = (
    Row("naive", "naive", counts=False),
    Row("naive-count", "naive", counts=True),
    Row("naive-agg", "naive", counts=False, aggregator=True),
    Row("naive-agg-count", "naive", counts=True, aggregator=True),
    Row("public", "PUBLIC", counts=False),
    Row("public-agg", "PUBLIC", counts=False, aggregator=True),
    Row("registered", "REGISTERED", counts=False),
    Row("registered-count", "REGISTERED", counts=True),
)


@dataclass(frozen=True)
class Shared:
    """What every configuration uses: the database server, the cohort VCFs, the identity
    provider, and where logs and TOML files go."""

    uri: str
    client: AsyncMongoClient[dict[str, Any]]
    ingested_vcf: Path
    reference_vcf: Path
    provider: Provider
    out: Path
    data_dir: Path

    @property
    def env(self) -> dict[str, str]:
        return {"BEACON_MONGO_URI": self.uri, "BEACON_DATA_DIR": str(self.data_dir)}


@dataclass(frozen=True)
class Served:
    base: str
    db: str
    k: int
    """The threshold the shown counts passed (node, and aggregator when in front)."""
    epsilon: float | None
    """The noise per count answer; None: exact counts."""
    gate_error: float | None
    """e of the gate, None without one: PUBLIC callers get no answer below it, REGISTERED
    callers answers under the risk budget (a "no" there may be a refusal)."""
    tier: str
    notes: tuple[str, ...]

    def below_gate(self, f: float, samples: int) -> bool:
        """Whether an allele of reference frequency `f` is below the documented gate:
        (1-f)^(2N) > e."""
        return self.gate_error is not None and (1 - f) ** (2 * samples) > self.gate_error

    def withheld(self, f: float, samples: int) -> bool:
        """Whether the documented gate withholds this allele from this row's caller."""
        return self.tier == "PUBLIC" and self.below_gate(f, samples)

    def budgeted(self, f: float, samples: int) -> bool:
        """Whether this row's caller is answered about this allele under the risk budget."""
        return self.tier == "REGISTERED" and self.below_gate(f, samples)


def _privacy_keys() -> set[str]:
    schema = json.loads(SCHEMA.read_text())
    return set(schema["properties"].get("privacy", {}).get("properties", {}))


def node_toml(row: Row, port: int, db: str, provider: Provider) -> str:
    known = _privacy_keys()
    privacy = {"k": 1} if row.tier == "naive" else {}
    if "rate_per_minute" in known:  # the bench is one client asking fast
        privacy["rate_per_minute"] = 0
    lines = ["[server]", 'host = "127.0.0.1"', f"port = {port}", "", "[database]"]
    lines += [f'name = "{db}"', "", "[privacy]", *(f"{k} = {v}" for k, v in privacy.items())]
    text = "\n".join(lines) + "\n"
    return text + ("\n" + provider.access_toml() if row.access else "")


def network_toml(row: Row, port: int, member: str) -> str:
    k = "k = 1\n" if row.tier == "naive" else ""
    return (
        f'[server]\nhost = "127.0.0.1"\nport = {port}\n\n[network]\n{k}\n'
        f'[[members]]\nid = "uk1"\ncountry = "GB"\nname = "bench node"\nurl = "{member}"\n'
        "timeout_seconds = 20\n"
    )


def _model(row: Row, config: Path) -> tuple[int, float | None, float | None]:
    """(k, epsilon, gate e) the node applies to this row's answers, as its documented
    settings say."""
    settings = load_settings({}, config)
    protection = getattr(settings, "protection", None)
    if not row.access or protection is None:
        return settings.k, None, None
    epsilon = float(protection.count_epsilon) if getattr(protection, "noise", True) else None
    gate = float(protection.gate_error) if protection.gate else None
    k = max(settings.k, 5) if row.aggregator else settings.k  # the network's default k
    return k, epsilon, gate


@asynccontextmanager
async def served(shared: Shared, row: Row, purpose: str) -> AsyncIterator[Served]:
    """A fresh database for `row` (budgets start empty), loaded and served."""
    db = f"attack_{row.key.replace('-', '_')}_{purpose}_{secrets.token_hex(3)}"
    port = free_port()
    config = shared.out / f"attack-{row.key}-{purpose}.toml"
    config.write_text(node_toml(row, port, db, shared.provider))
    status, said = await run_beacon(["--config", str(config), "config", "check"], shared.env)
    if status != 0:
        raise SetupError(f"`beacon config check` refused {config.name}: {said}")
    k, epsilon, gate = _model(row, config)
    await ingest_vcf(
        shared.client[db], shared.ingested_vcf, dataset=DATASET, assembly="GRCh37",
        name="CINECA UK1 chr22 (attack bench)",
    )  # fmt: skip
    notes: list[str] = []
    status, said = await run_beacon(
        ["reference", "load", str(shared.reference_vcf), "--assembly", "GRCh37",
         "--config", str(config)], shared.env,
    )  # fmt: skip
    if status != 0:
        if row.access:
            raise SetupError(f"`beacon reference load` failed: {said[-600:]}")
        notes.append(f"reference load failed (not needed without [access]): {said[-200:]}")
    async with AsyncExitStack() as stack:
        log = shared.out / f"attack-{row.key}-{purpose}-node.log"
        args = ["serve", "--config", str(config)]
        base = await stack.enter_async_context(beacon_process(args, port, shared.env, log))
        if row.aggregator:
            agg_port = free_port()
            network = shared.out / f"attack-{row.key}-{purpose}-network.toml"
            network.write_text(network_toml(row, agg_port, base))
            log = shared.out / f"attack-{row.key}-{purpose}-aggregator.log"
            args = ["aggregate", "--config", str(network)]
            base = await stack.enter_async_context(beacon_process(args, agg_port, shared.env, log))
        yield Served(base, db, k, epsilon, gate, row.tier, tuple(notes))
