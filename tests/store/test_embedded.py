"""The embedded SecantusDB server: data persists, others share it, the last user out stops it."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from beacon.store.connect import client_for
from beacon.store.embedded import STATE_FILE, embedded_server, pid_alive

# A separate process that starts (or shares) the server, reports it, and leaves on a stdin line.
USER_SCRIPT = """
import asyncio, sys
from pathlib import Path
from beacon.store.embedded import embedded_server

async def main():
    async with embedded_server(Path(sys.argv[1])) as server:
        print(server.pid, server.owned, flush=True)
        await asyncio.to_thread(sys.stdin.readline)

asyncio.run(main())
"""


def gone(pid: int) -> bool:
    # Not os.kill(pid, 0): a server whose starter exited is reparented, and its new parent may
    # leave it unreaped for a while after it exits.
    return not pid_alive(pid)


def users(data_dir: Path) -> list[int]:
    return list(json.loads((data_dir / STATE_FILE).read_text())["users"])


async def dead_pid() -> int:
    finished = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    assert await finished.wait() == 0
    return finished.pid


async def ping(uri: str) -> None:
    """Raises unless the server answers within the client's server selection timeout (10 s)."""
    client = client_for(uri)
    try:
        await client.admin.command("ping")
    finally:
        await client.close()


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
        assert state["users"] == [os.getpid()]
        async with embedded_server(tmp_path) as guest:
            assert (guest.owned, guest.uri, guest.pid) == (False, owner.uri, owner.pid)
            assert users(tmp_path) == [os.getpid(), os.getpid()]
            client = client_for(guest.uri)
            await client["shared"]["things"].insert_one({"_id": "from-guest"})
            await client.close()
        # The guest leaving stops nothing.
        assert not gone(owner.pid)
        assert users(tmp_path) == [os.getpid()]
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
    dead = await dead_pid()
    state = tmp_path / STATE_FILE
    if leftover == "dead-server":
        state.write_text(json.dumps({"pid": dead, "port": 9, "users": [dead]}))
    else:
        state.write_text('{"pid": ')

    async with embedded_server(tmp_path) as server:
        assert server.owned
        assert server.pid != dead
        assert users(tmp_path) == [os.getpid()]
        assert json.loads(state.read_text())["pid"] == server.pid
    assert not state.exists()
    assert gone(server.pid)


async def test_the_starter_leaving_first_leaves_the_server_to_the_last_user(tmp_path, caplog):
    # The reviewer's case: `beacon ingest` starts the server, a node shares it, the ingest ends.
    starter = await asyncio.create_subprocess_exec(
        sys.executable, "-c", USER_SCRIPT, str(tmp_path),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )  # fmt: skip
    assert starter.stdin is not None and starter.stdout is not None
    try:
        pid, owned = (await asyncio.wait_for(starter.stdout.readline(), 60)).split()
        assert owned == b"True"
        with caplog.at_level(logging.WARNING, logger="beacon.store.embedded"):
            async with embedded_server(tmp_path) as sharer:
                assert (sharer.pid, sharer.owned) == (int(pid), False)
                starter.stdin.write(b"leave\n")
                assert await asyncio.wait_for(starter.wait(), 30) == 0
                assert users(tmp_path) == [os.getpid()]
                await ping(sharer.uri)
    finally:
        if starter.returncode is None:
            starter.kill()
            await starter.wait()
    # No "ignored SIGTERM": a stop by pid must not hang the way a bare TCP probe made it.
    assert caplog.messages == []
    assert not (tmp_path / STATE_FILE).exists()
    assert gone(sharer.pid)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_an_orphaned_server_is_adopted_and_stopped_by_its_last_user(tmp_path):
    # What a SIGKILLed starter leaves behind: a server running, recorded with only dead users.
    port = free_port()
    command = [sys.executable, "-m", "secantus", "--host", "127.0.0.1", "--port", str(port),
               "--storage-path", str(tmp_path / "db"), "--log-level", "WARNING"]  # fmt: skip
    with (tmp_path / "orphan.log").open("ab") as log_file:
        orphan = await asyncio.create_subprocess_exec(
            *command, stdout=log_file, stderr=subprocess.STDOUT
        )
    try:
        uri = f"mongodb://127.0.0.1:{port}/?directConnection=true"
        await ping(uri)
        dead = await dead_pid()
        (tmp_path / STATE_FILE).write_text(
            json.dumps({"pid": orphan.pid, "port": port, "users": [dead]})
        )

        async with embedded_server(tmp_path) as adopter:
            assert (adopter.pid, adopter.uri, adopter.owned) == (orphan.pid, uri, False)
            assert users(tmp_path) == [os.getpid()]
        assert gone(orphan.pid)
        await asyncio.wait_for(orphan.wait(), 5)
        assert not (tmp_path / STATE_FILE).exists()
    finally:
        if orphan.returncode is None:
            orphan.kill()
            await orphan.wait()


async def test_two_users_entering_at_once_start_one_server(tmp_path):
    both_inside = asyncio.Barrier(2)

    async def use() -> tuple[int, str, bool]:
        async with embedded_server(tmp_path) as server:
            await both_inside.wait()
            assert users(tmp_path) == [os.getpid(), os.getpid()]
            return server.pid, server.uri, server.owned

    first, second = await asyncio.gather(use(), use())
    assert first[:2] == second[:2]
    assert sorted([first[2], second[2]]) == [False, True]
    assert not (tmp_path / STATE_FILE).exists()
    assert gone(first[0])
