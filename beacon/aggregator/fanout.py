"""Ask every member at once; return each one's outcome when all answered or the deadline passed.

Every member runs in its own task bounded by min(its timeout, what is left of the deadline), so
the slowest member costs the answer nothing beyond the deadline, and every outcome is a value.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

import aiohttp

from beacon.aggregator.cache import AnswerCache, CacheKey
from beacon.aggregator.contract import answer_problem
from beacon.aggregator.delegation import Delegation, relevant_visas
from beacon.aggregator.merge import inconsistency
from beacon.aggregator.outcomes import (
    Answered,
    Failed,
    Outcome,
    Status,
    deeper_than,
    json_object,
)
from beacon.aggregator.registry import MemberState, Registry
from beacon.aggregator.transport import fetch_json
from beacon.auth import ANONYMOUS, Principal
from beacon.config import NetworkConfig
from beacon.results import Granularity

log = logging.getLogger(__name__)

_GRACE = 0.25
"""Seconds past the deadline after which a member task that has not ended is abandoned."""


@dataclass(frozen=True, slots=True)
class MemberRequest:
    """One caller's request as every member receives it.

    `entry` is `g_variants` or `individuals` (POST `body`), or `variant` (GET `variant_id` with
    `params`). `canonical` identifies the request for the cache; `dataset_ids`, when given, are
    narrowed to each member's own datasets.
    """

    entry: str
    granularity: Granularity
    canonical: str
    tier: str
    body: bytes | None = None
    """The JSON request body (POST entries), encoded once for every member."""
    params: dict[str, str] | None = None
    variant_id: str = ""
    dataset_ids: tuple[str, ...] = ()
    limit: int = 0
    """Records per result set a member may send (record granularity)."""
    caller: Principal = ANONYMOUS
    address: str = ""
    """Who asks, and from where: what a minted per-member token carries (pseudonymously)."""


@dataclass(frozen=True)
class FanOut:
    """What a fan-out needs: the app's one session, the registry and the cache."""

    session: aiohttp.ClientSession
    registry: Registry
    cache: AnswerCache
    delegation: Delegation | None = None

    async def ask_all(self, request: MemberRequest, request_id: str = "") -> list[Outcome]:
        """Every member's outcome, in configuration order, within the network deadline."""
        network = self.registry.network
        states = self.registry.states()
        if not states:
            return []
        deadline = time.monotonic() + network.deadline
        tasks = [
            asyncio.create_task(self._ask(network, state, request, deadline, request_id))
            for state in states
        ]
        try:
            done, _ = await asyncio.wait(tasks, timeout=network.deadline + _GRACE)
        finally:  # also when the caller goes away
            for task in tasks:
                task.cancel()
        return [
            task.result()
            if task in done
            else Failed(state.member, Status.TIMEOUT, network.deadline, "abandoned at deadline")
            for state, task in zip(states, tasks, strict=True)
        ]

    async def _ask(
        self,
        network: NetworkConfig,
        state: MemberState,
        request: MemberRequest,
        deadline: float,
        request_id: str,
    ) -> Outcome:
        member = state.member
        narrowed = _narrowed(request, state)
        if narrowed is None:
            return Failed(member, Status.NOT_QUERIED, 0.0, "has none of the requested datasets")
        now = time.monotonic()
        if not state.breaker.allows(now, network.failures_to_open, network.probe_after):
            wait = state.breaker.reopens_in(now)
            detail = f"failed {state.breaker.failures} times in a row; next try in {wait:.0f} s"
            return Failed(member, Status.CIRCUIT_OPEN, 0.0, detail)
        budget = min(member.timeout, deadline - now)
        try:
            async with asyncio.timeout(budget):
                outcome = await self._answer(network, state, narrowed, request_id)
        except TimeoutError:
            outcome = Failed(
                member, Status.TIMEOUT, time.monotonic() - now, f"no answer within {budget:.2f} s"
            )
        except Exception:  # a bug here must cost one member, not the whole answer
            log.exception("unexpected failure asking a member", extra={"member": member.id})
            outcome = Failed(
                member, Status.INVALID_RESPONSE, time.monotonic() - now, "unexpected failure"
            )
        state.breaker.record(
            not outcome.counts_against,
            time.monotonic(),
            network.failures_to_open,
            network.probe_after,
        )
        return outcome

    async def _answer(
        self, network: NetworkConfig, state: MemberState, request: MemberRequest, request_id: str
    ) -> Outcome:
        started = time.monotonic()
        key = None
        minted = None
        if self.delegation is not None:
            minted = self.delegation.token(
                self.delegation.subject(request.caller, request.address),
                state.member.audience or state.member.base,
                relevant_visas(request.caller, self.registry.grants_of(state)),
            )
        # A signed-in caller's answers follow their own budgets at the member: never shared.
        if self.cache.enabled and (minted is None or request.caller.anonymous):
            versions = await self.registry.current_versions(self.session, state)
            key = CacheKey(
                state.member.id,
                state.member.base,
                versions,
                request.tier,
                request.canonical,
                self.registry.credential(state.member),
            )
            cached = self.cache.get(key)
            if cached is not None:
                return Answered(state.member, cached, 0.0, cached=True)
        got = await fetch_json(
            self.session,
            state.member,
            _url(state, request),
            payload=request.body,
            params=request.params,
            headers=self.registry.headers(state.member, request_id, minted),
            within=None,  # _ask bounds the whole of it
            max_bytes=_byte_cap(network, request),
        )
        if isinstance(got, Failed):
            return got
        body, size = got
        latency = time.monotonic() - started
        problem = _problem(body, request, state.dataset_ids)
        if problem:
            return Failed(state.member, Status.INVALID_RESPONSE, latency, problem[:300])
        if key is not None and state.versions == key.versions:  # not if a release came meanwhile
            self.cache.put(key, body, size)
        return Answered(state.member, body, latency)


def _problem(
    body: dict[str, Any], request: MemberRequest, datasets: frozenset[str] | None
) -> str | None:
    """Why a member's answer cannot be merged, or None; records it was not asked for are
    dropped first, so they cost no validation and no cache space."""
    sets = json_object(body, "response").get("resultSets")
    # One set per dataset; one more is allowed for a dataset added since the list was read.
    if datasets is not None and isinstance(sets, list) and len(sets) > len(datasets) + 1:
        return f"{len(sets)} result sets from a member listing {len(datasets)} datasets"
    for result_set in sets if isinstance(sets, list) else []:
        if not isinstance(result_set, dict) or not isinstance(result_set.get("results"), list):
            continue
        if request.granularity < Granularity.RECORD:
            result_set["results"] = []
        elif len(result_set["results"]) > request.limit:
            where = result_set.get("id")
            return f"more than the {request.limit} records asked for in {where!r}"
        elif deeper_than(result_set["results"], _RECORD_DEPTH):
            return f"records nested more than {_RECORD_DEPTH} levels deep"
    problem = answer_problem(body)
    if problem:
        return f"not a valid Beacon answer: {problem}"
    return inconsistency(body, request.granularity)


def _narrowed(request: MemberRequest, state: MemberState) -> MemberRequest | None:
    """The request with `datasetIds` cut to this member's datasets; None if it has none of them."""
    if not request.dataset_ids:
        return request
    known = state.dataset_ids
    wanted = [d for d in request.dataset_ids if known is None or d in known]
    if not wanted:
        return None
    if request.body is not None:
        body = json.loads(request.body)
        body["query"]["requestParameters"]["datasetIds"] = wanted
        return replace(
            request, body=json_payload(body), canonical=f"{request.canonical}|{','.join(wanted)}"
        )
    params = {**(request.params or {}), "datasetIds": ",".join(wanted)}
    return replace(request, params=params, canonical=f"{request.canonical}|{','.join(wanted)}")


def _url(state: MemberState, request: MemberRequest) -> str:
    if request.entry == "variant":
        return f"{state.url('g_variants')}/{quote(request.variant_id, safe='')}"
    return state.url(request.entry)


_RECORD_DEPTH = 32
"""Levels of nesting a member's records may have (a Beacon genomicVariation needs about 8)."""

_SMALL_ANSWER = 1024 * 1024
"""Bytes a boolean or count answer may take: about 3,000 result sets."""


def _byte_cap(network: NetworkConfig, request: MemberRequest) -> int:
    if request.granularity is Granularity.RECORD:
        return network.max_member_bytes
    return min(network.max_member_bytes, _SMALL_ANSWER)


def json_payload(body: dict[str, Any]) -> bytes:
    """A request body as sent to members: compact JSON."""
    return json.dumps(body, separators=(",", ":")).encode()
