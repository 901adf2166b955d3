"""The aggregator's network-wide budget: count answers per person per UTC day, repeats free,
kept across restarts in a file; over real HTTP, the answer turns boolean with a note."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from beacon.aggregator.app import create_aggregator_app
from beacon.aggregator.budget import NETWORK_BUDGET_NOTE, NetworkBudget
from beacon.config import Member, NetworkConfig, Settings
from tests.aggregator.conftest import Client, NodeFactory, rows
from tests.official_schemas import assert_valid_answer


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC

    def __call__(self) -> float:
        return self.now


def test_a_person_gets_per_day_distinct_counts_and_repeats_free(tmp_path: Path) -> None:
    budget = NetworkBudget(2, tmp_path / "b.json", clock=Clock())
    assert [budget.spend("alice", q) for q in ("q1", "q2", "q3")] == [True, True, False]
    assert budget.spend("alice", "q1") and budget.spend("alice", "q2")
    assert budget.spend("bob", "q3")


def test_a_new_utc_day_starts_afresh(tmp_path: Path) -> None:
    clock = Clock()
    budget = NetworkBudget(1, tmp_path / "b.json", clock=clock)
    assert budget.spend("alice", "q1") and not budget.spend("alice", "q2")
    clock.now += 2 * 3600  # past midnight UTC
    assert budget.spend("alice", "q2")


def test_the_budget_survives_a_restart_but_not_a_new_day(tmp_path: Path) -> None:
    clock, path = Clock(), tmp_path / "dir" / "b.json"
    first = NetworkBudget(2, path, clock=clock)
    first.spend("alice", "q1")
    first.spend("alice", "q2")
    first.save()
    saved = json.loads(path.read_text())
    assert set(saved) == {"day", "spent"} and "q1" not in path.read_text()  # digests only
    again = NetworkBudget(2, path, clock=clock)
    assert not again.spend("alice", "q3") and again.spend("alice", "q1")
    clock.now += 86_400
    assert NetworkBudget(2, path, clock=clock).spend("alice", "q3")


def test_an_unreadable_file_is_reported_and_replaced(tmp_path: Path, caplog: Any) -> None:
    path = tmp_path / "b.json"
    path.write_text("{not json")
    budget = NetworkBudget(1, path, clock=Clock())
    assert "could not read the network budget" in caplog.text
    assert budget.spend("alice", "q1")
    budget.save()
    assert json.loads(path.read_text())["spent"]


def test_addresses_are_never_written_and_differ_per_process(tmp_path: Path) -> None:
    one, two = (NetworkBudget(1, tmp_path / f"{n}.json") for n in "ab")
    person = one.person(None, "192.0.2.7")
    assert person.startswith("address:") and "192.0.2.7" not in person
    assert person == one.person(None, "192.0.2.7") != one.person(None, "192.0.2.8")
    assert person != two.person(None, "192.0.2.7")
    assert one.person("abc", "192.0.2.7") == "abc"


async def test_through_the_aggregator_counts_turn_boolean_past_the_budget(
    national_node: NodeFactory,
    settings: Settings,
    client_of: Any,
    tmp_path: Path,
) -> None:
    url = await national_node("se", rows(3))
    network = NetworkConfig(
        members=(Member("se", "SE", "Sweden", url),), count_budget_per_day=2, cache_entries=0
    )
    app = create_aggregator_app(replace(settings, data_dir=tmp_path), network)
    client: Client = await client_of(app)

    async def ask(start: int) -> dict[str, Any]:
        params = {"referenceName": "1", "start": str(start), "end": str(start + 1),
                  "requestedGranularity": "count"}  # fmt: skip
        response = await client.get("/g_variants", params=params)
        body: dict[str, Any] = await response.json()
        assert response.status == 200, body
        assert_valid_answer(body)
        return body

    first, second = await ask(99), await ask(100)
    for body in (first, second):
        assert body["meta"]["returnedGranularity"] == "count"
        assert "networkBudget" not in body["info"]
    third = await ask(101)
    assert third["meta"]["returnedGranularity"] == "boolean"
    assert third["info"]["networkBudget"] == NETWORK_BUDGET_NOTE
    assert "numTotalResults" not in third["responseSummary"]
    again = await ask(99)  # asked and counted today: still a count
    assert again["meta"]["returnedGranularity"] == "count"
    assert again["responseSummary"] == first["responseSummary"]
