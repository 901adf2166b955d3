"""The member beacons: who they are (from the config), what they told us, and their breakers.

The configuration is swapped as a whole on reload; a request takes the member list once at its
start, so a reload never changes a request in flight. A member's learned state (endpoints,
datasets, breaker) survives a reload as long as its id and URL stay the same.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from yarl import URL

from beacon.aggregator.cache import Versions
from beacon.aggregator.outcomes import Failed, json_object
from beacon.aggregator.transport import fetch_json
from beacon.config import Member, NetworkConfig, Secret, load_network
from beacon.errors import ConfigError

log = logging.getLogger(__name__)

USER_AGENT = "beacon-aggregator/0.1"


@dataclass
class Breaker:
    """Consecutive failures; once `threshold` is reached, one probe per `probe_after` seconds."""

    failures: int = 0
    open_until: float = 0.0

    def allows(self, now: float, threshold: int, probe_after: float) -> bool:
        if self.failures < threshold:
            return True
        if now < self.open_until:
            return False
        self.open_until = now + probe_after  # this request is the probe; the others wait
        return True

    def record(self, ok: bool, now: float, threshold: int, probe_after: float) -> None:
        if ok:
            self.failures, self.open_until = 0, 0.0
            return
        self.failures += 1
        if self.failures >= threshold:
            self.open_until = now + probe_after

    def reopens_in(self, now: float) -> float:
        return max(0.0, self.open_until - now)


@dataclass
class MemberState:
    """What the aggregator knows of one member beyond its configuration."""

    member: Member
    breaker: Breaker = field(default_factory=Breaker)
    beacon_id: str | None = None
    endpoints: dict[str, str] = field(default_factory=dict)
    datasets: tuple[dict[str, Any], ...] = ()
    versions: Versions = ()
    versions_at: float = -math.inf
    problem: str | None = "not contacted yet"
    versions_task: asyncio.Task[None] | None = None

    def url(self, entry: str) -> str:
        """The member's URL for an entry type, as its /map said, else the standard path."""
        return self.endpoints.get(entry) or f"{self.member.base}/{entry}"

    ids: frozenset[str] = frozenset()
    grants: frozenset[str] = frozenset()
    """The grant URLs its datasets list (`info.accessGrant`): which grant visas it can use."""

    @property
    def dataset_ids(self) -> frozenset[str] | None:
        """The member's dataset ids, or None when its list could not be read."""
        return self.ids if self.problem is None else None


_RESTART_ONLY = (
    "cache_entries",
    "cache_ttl",
    "connections_per_member",
    "signer",
    "count_budget_per_day",
)
"""Sizes of things built once at start; a reload logs that they did not change."""

_MAP_ENTRIES = {
    "genomicVariation": "g_variants",
    "individual": "individuals",
    "dataset": "datasets",
}


class Registry:
    """The current network configuration and the state of every member in it."""

    def __init__(
        self, network: NetworkConfig, path: Path | None, environ: Mapping[str, str]
    ) -> None:
        self._network = network
        self._path = path
        self._environ = environ
        self._states = {m.id: MemberState(m) for m in network.members}
        self._mtime = self._file_mtime()
        self.reloaded = False
        """Set by a reload, cleared by whoever refreshes the members' descriptions."""

    @property
    def network(self) -> NetworkConfig:
        return self._network

    def states(self) -> list[MemberState]:
        """The members, in configuration order, as of now (a reload makes a new list)."""
        return [self._states[m.id] for m in self._network.members]

    def apply(self, network: NetworkConfig) -> None:
        """Adopt a new configuration; members keeping their id and URL keep their state."""
        states = {}
        for member in network.members:
            old = self._states.get(member.id)
            if old is not None and old.member.base == member.base:
                old.member = member
                states[member.id] = old
            else:
                states[member.id] = MemberState(member)
        self._states, self._network = states, network

    def reload(self) -> bool:
        """Re-read the config file; on any problem keep the current configuration and log why."""
        if self._path is None:
            return False
        self._mtime = self._file_mtime()
        try:
            _, network = load_network(self._environ, self._path)
        except ConfigError as exc:
            log.error("config reload refused; keeping the current members",
                      extra={"problems": "; ".join(exc.problems)})  # fmt: skip
            return False
        fixed = [k for k in _RESTART_ONLY if getattr(network, k) != getattr(self._network, k)]
        if fixed:
            log.warning("these settings change only on restart", extra={"kept": ", ".join(fixed)})
        self.apply(network)
        self.reloaded = True
        log.warning("members reloaded", extra={"members": len(network.members)})
        return True

    def pending(self) -> list[asyncio.Task[None]]:
        """Dataset reads still running, to be cancelled when the app stops."""
        return [
            s.versions_task
            for s in self._states.values()
            if s.versions_task is not None and not s.versions_task.done()
        ]

    def changed_on_disk(self) -> bool:
        return self._path is not None and self._file_mtime() != self._mtime

    def _file_mtime(self) -> float | None:
        try:
            return os.stat(self._path).st_mtime if self._path else None
        except OSError:
            return None

    def headers(self, member: Member, request_id: str, minted: str | None = None) -> dict[str, str]:
        """What every call to a member carries: never the caller's own credentials; a token
        minted for this member and caller when given, else the configured one."""
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        token = minted or (member.token or self._network.token or Secret("")).value
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if request_id:
            headers["X-Request-ID"] = request_id
        return headers

    def credential(self, member: Member) -> str:
        """A fingerprint of the token used at a member (part of cache keys), never the token."""
        token = member.token or self._network.token
        return hashlib.sha256(token.value.encode()).hexdigest()[:16] if token else ""

    async def refresh(self, session: aiohttp.ClientSession, state: MemberState) -> None:
        """Read a member's /info, /map and datasets; a failure is recorded, never raised."""
        got = await self._get(session, state, f"{state.member.base}/info")
        if isinstance(got, Failed):
            state.problem = f"/info: {got.detail}"
            return
        state.beacon_id = str(json_object(got, "meta").get("beaconId") or state.member.id)[:256]
        found = await self._get(session, state, f"{state.member.base}/map")
        if not isinstance(found, Failed):
            state.endpoints = _endpoints(found, state.member.base)
        await self.refresh_datasets(session, state)

    async def refresh_datasets(self, session: aiohttp.ClientSession, state: MemberState) -> None:
        got = await self._get(session, state, state.url("datasets"))
        if isinstance(got, Failed):
            state.problem = f"datasets: {got.detail}"
            state.versions = ()
            state.versions_at = time.monotonic()  # not asked again on every request
            return
        collections = json_object(got, "response").get("collections", [])
        if not isinstance(collections, list):
            collections = []
        datasets = tuple(
            c for c in collections if isinstance(c, dict) and isinstance(c.get("id"), str)
        )
        state.datasets = datasets
        state.ids = frozenset(d["id"] for d in datasets)
        state.grants = frozenset(
            grant
            for d in datasets
            if isinstance(d.get("info"), dict)
            and isinstance(grant := d["info"].get("accessGrant"), str)
        )
        # Without a version for every dataset a re-ingest cannot be told apart: no caching.
        versions = tuple(sorted((d["id"], str(d.get("version") or "")[:128]) for d in datasets))
        state.versions = versions if all(v for _, v in versions) else ()
        state.versions_at = time.monotonic()
        state.problem = None

    def grants_of(self, state: MemberState) -> frozenset[str]:
        """The grant URLs a member may be sent visas for: those it lists and no other member
        does (a member claiming another's dataset must not collect its users' grants)."""
        others = [s.grants for s in self._states.values() if s is not state]
        claimed = frozenset().union(*others) if others else frozenset()
        return state.grants - claimed

    async def current_versions(
        self, session: aiohttp.ClientSession, state: MemberState
    ) -> Versions:
        """The member's dataset versions, read again when older than `versions_max_age`.

        Concurrent requests share one read; a request giving up (its deadline) does not cancel
        it for the others.
        """
        if time.monotonic() - state.versions_at <= self._network.versions_max_age:
            return state.versions
        if state.versions_task is None or state.versions_task.done():
            state.versions_task = asyncio.create_task(self.refresh_datasets(session, state))
        await asyncio.shield(state.versions_task)
        return state.versions

    async def _get(
        self, session: aiohttp.ClientSession, state: MemberState, url: str
    ) -> dict[str, Any] | Failed:
        got = await fetch_json(
            session,
            state.member,
            url,
            payload=None,
            headers=self.headers(state.member, ""),
            within=state.member.timeout,
            max_bytes=self._network.max_member_bytes,
        )
        return got if isinstance(got, Failed) else got[0]


def _endpoints(found: dict[str, Any], base: str) -> dict[str, str]:
    """Entry URLs from a member's /map, kept only under the member's own configured URL."""
    sets = json_object(found, "response").get("endpointSets", {})
    endpoints = {}
    if isinstance(sets, dict):
        for entry_type, entry in _MAP_ENTRIES.items():
            described = sets.get(entry_type)
            root = described.get("rootUrl") if isinstance(described, dict) else None
            if isinstance(root, str) and _under(base, root):
                endpoints[entry] = root.rstrip("/")
    return endpoints


def _under(base: str, url: str) -> bool:
    """Whether `url` is a plain path below `base`: same scheme, host and port, no `..`, no
    query or fragment. A member's /map may not send us (with its token) anywhere else."""
    try:
        parsed, root = URL(url), URL(base)
    except ValueError:
        return False
    segments = parsed.raw_path.split("/")
    return (
        parsed.origin() == root.origin()
        and not parsed.raw_query_string
        and not parsed.raw_fragment
        and ".." not in segments
        and "." not in segments
        and "%" not in parsed.raw_path
        and parsed.raw_path.startswith(root.raw_path.rstrip("/") + "/")
    )
