"""The embedded SecantusDB server: data persists, a second user shares it, the owner stops it."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time

import pytest

from beacon.store.connect import client_for
from beacon.store.embedded import STATE_FILE, embedded_server


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_data_survives_a_restart_on_the_same_directory(tmp_path):
    async with embedded_server(tmp_path) as first:
        client = client_for(first.uri)
        await client["kept"]["things"].insert_one({"_id": "a", "n": 1})
        await client.close()

    async with embedded_server(tmp_path) as second:
        assert second.owned
        assert second.pid != first.pid
        client = client_for(second.uri)
        assert await client["kept"]["things"].find({}).to_list(None) == [{"_id": "a", "n": 1}]
        await client.close()


async def test_second_user_of_a_running_server_shares_it(tmp_path):
    async with embedded_server(tmp_path) as owner:
        assert owner.owned
        state = json.loads((tmp_path / STATE_FILE).read_text())
        assert state["pid"] == owner.pid
        async with embedded_server(tmp_path) as guest:
            assert (guest.owned, guest.uri, guest.pid) == (False, owner.uri, owner.pid)
            client = client_for(guest.uri)
            await client["shared"]["things"].insert_one({"_id": "from-guest"})
            await client.close()
        # The guest leaving stops nothing.
        assert not gone(owner.pid)
        assert (tmp_path / STATE_FILE).exists()
        client = client_for(owner.uri)
        assert await client["shared"]["things"].find_one({}) == {"_id": "from-guest"}
        await client.close()


async def test_stopping_the_owner_ends_the_process_and_removes_the_state_file(tmp_path, caplog):
    # Stopped straight after start: SecantusDB lost such a SIGTERM (and hung until killed after
    # 30 s) in about one start in ten while readiness was only a TCP connect.
    with caplog.at_level(logging.WARNING, logger="beacon.store.embedded"):
        async with embedded_server(tmp_path) as owner:
            assert (tmp_path / STATE_FILE).exists()
            assert not gone(owner.pid)
            stopping = time.monotonic()
    assert time.monotonic() - stopping < 15
    assert caplog.messages == []
    assert not (tmp_path / STATE_FILE).exists()
    assert gone(owner.pid)


@pytest.mark.parametrize("leftover", ["dead-server", "not-json"])
async def test_stale_or_broken_state_file_starts_a_new_server(tmp_path, leftover):
    finished = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    assert await finished.wait() == 0
    state = tmp_path / STATE_FILE
    if leftover == "dead-server":
        state.write_text(json.dumps({"pid": finished.pid, "port": 9}))
    else:
        state.write_text('{"pid": ')

    async with embedded_server(tmp_path) as server:
        assert server.owned
        assert server.pid != finished.pid
        assert json.loads(state.read_text())["pid"] == server.pid
    assert not state.exists()
    assert gone(server.pid)
