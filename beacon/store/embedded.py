"""The embedded default database: a SecantusDB server run as a child process on 127.0.0.1.

The data directory persists between runs. A state file in it records the running server (pid,
port) and the processes using it, so a second process (an ingest while the node runs) shares
the server instead of starting another one, which WiredTiger's exclusive lock would refuse
anyway. The last user out stops the server, whichever process started it; a user that died
without leaving (SIGKILL) is dropped by the next one to join or leave, and a server whose users
are all dead is adopted by the next process that needs it. Every read or change of the state
file happens under an exclusive flock on a separate lock file, so two processes starting at
once cannot both start a server.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from beacon.errors import StoreUnavailable

log = logging.getLogger(__name__)

STATE_FILE = "server.json"
LOCK_FILE = "server.lock"
STOP_GRACE = 30.0
"""Seconds a server gets to exit after SIGTERM before it is killed."""


@dataclass(frozen=True)
class EmbeddedServer:
    uri: str
    pid: int
    owned: bool


@dataclass(frozen=True)
class _State:
    """What server.json records: the server, and one entry per `embedded_server` using it."""

    pid: int
    port: int
    users: tuple[int, ...]


@dataclass(frozen=True)
class _Started:
    server: EmbeddedServer
    proc: subprocess.Popen[bytes] | None
    """The server's process when this process started it, to signal and reap it by."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        try:
            sock.connect(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _zombie(pid: int) -> bool:
    """Whether the process has exited but is not reaped yet (Linux; elsewhere assumed not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The command name in parentheses may itself contain spaces or parentheses.
    fields = stat.rpartition(")")[2].split()
    return bool(fields) and fields[0] in {"Z", "X"}


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this host; an exited, unreaped one does not."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return not _zombie(pid)


def _uri(port: int) -> str:
    return f"mongodb://127.0.0.1:{port}/?directConnection=true"


def _read_state(data_dir: Path) -> _State | None:
    """The recorded server, or None when there is no state file or it cannot be read."""
    try:
        info = json.loads((data_dir / STATE_FILE).read_text())
        users = tuple(int(user) for user in info.get("users", []))
        return _State(int(info["pid"]), int(info["port"]), users)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _write_state(data_dir: Path, state: _State) -> None:
    # Replaced whole, so a crash mid-write never leaves half a file behind.
    partial = data_dir / (STATE_FILE + ".tmp")
    partial.write_text(json.dumps({"pid": state.pid, "port": state.port, "users": state.users}))
    partial.replace(data_dir / STATE_FILE)


@asynccontextmanager
async def _state_lock(data_dir: Path) -> AsyncIterator[None]:
    """Hold the data directory's exclusive flock; never across a yield to the caller."""
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    acquiring = asyncio.ensure_future(asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX))
    try:
        await asyncio.shield(acquiring)
    except BaseException:
        # Cancelled while the thread still waits: closing the file when it gets the lock
        # releases it, where closing it now could leave a lock nobody ever releases.
        acquiring.add_done_callback(lambda _: os.close(fd))
        raise
    try:
        yield
    finally:
        os.close(fd)


async def _pings(port: int) -> bool:
    """Whether the server answers a command, not just a TCP connect.

    SecantusDB accepts connections before it has finished starting, and a SIGTERM in that window
    is lost (the server then hangs until killed), so a server is ready only once it answers.
    A bare connect as the last contact before a SIGTERM loses it too, now and then (seen even
    3 s later), so every probe of a running server ends with this ping.
    """
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        _uri(port), serverSelectionTimeoutMS=1000, connectTimeoutMS=500
    )
    try:
        await client.admin.command("ping")
    except PyMongoError:
        return False
    finally:
        await client.close()
    return True


async def _ready(port: int) -> bool:
    # The connect first: it fails at once where a ping waits a second for a closed port.
    return _answers(port) and await _pings(port)


async def _wait_ready(
    proc: subprocess.Popen[bytes], port: int, log_path: Path, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise StoreUnavailable(
                f"the embedded database exited at start-up "
                f"(code {proc.returncode}); its log {log_path} ends:\n{tail}"
            )
        if await _ready(port):
            return
        await asyncio.sleep(0.05)
    # Killed, not stopped: a SIGTERM before the server answers is lost.
    proc.kill()
    raise StoreUnavailable(
        f"the embedded database did not start within {timeout:.0f} s; see {log_path}"
    )


def _stop_child(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM a server this process started, SIGKILL it after STOP_GRACE, and reap it."""
    with suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_GRACE)
    except subprocess.TimeoutExpired:
        log.warning("embedded database ignored SIGTERM; killing it", extra={"pid": proc.pid})
        proc.kill()
        proc.wait()


def _gone_within(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _runs_secantus(pid: int) -> bool:
    """Whether the process runs SecantusDB (Linux; without /proc any process is taken for it)."""
    if not Path("/proc/self").exists():
        return True
    try:
        return b"secantus" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _stop_pid(pid: int) -> None:
    """SIGTERM a server another process started, wait for it to vanish, SIGKILL it after a while.

    A server that died unnoticed may have had its pid reused by an unrelated process, so only a
    process running SecantusDB is signalled (checked without connecting to it: see `_pings`).
    """
    if not (pid_alive(pid) and _runs_secantus(pid)):
        return
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if _gone_within(pid, STOP_GRACE):
        return
    log.warning("embedded database ignored SIGTERM; killing it", extra={"pid": pid})
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    _gone_within(pid, 5.0)


async def _start(data_dir: Path, timeout: float, cache_size: str) -> _Started:
    port = _free_port()
    log_path = data_dir / "server.log"
    command = [
        sys.executable,
        "-m",
        "secantus",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--storage-path",
        str(data_dir / "db"),
        "--log-level",
        "WARNING",
        "--cache-size",
        cache_size,
    ]
    with log_path.open("ab") as log_file:
        # A session of its own: a Ctrl-C meant for this process must not reach a server
        # that other processes may still be using.
        proc = subprocess.Popen(
            command,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        await _wait_ready(proc, port, log_path, timeout)
        _write_state(data_dir, _State(proc.pid, port, (os.getpid(),)))
    except BaseException:
        await asyncio.to_thread(_stop_child, proc)
        raise
    log.info("embedded database started", extra={"pid": proc.pid, "port": port})
    return _Started(EmbeddedServer(_uri(port), proc.pid, owned=True), proc)


async def _join(data_dir: Path, timeout: float, cache_size: str) -> _Started:
    """Become a user of the recorded server if it still answers, or start one."""
    async with _state_lock(data_dir):
        state = _read_state(data_dir)
        if state is None or not (pid_alive(state.pid) and await _ready(state.port)):
            # Start-up holds the lock (about a second) so a concurrent join waits for it.
            return await _start(data_dir, timeout, cache_size)
        users = (*(user for user in state.users if pid_alive(user)), os.getpid())
        _write_state(data_dir, _State(state.pid, state.port, users))
    log.info(
        "using the embedded database already running",
        extra={"pid": state.pid, "users": len(users)},
    )
    return _Started(EmbeddedServer(_uri(state.port), state.pid, owned=False), None)


async def _leave(data_dir: Path, started: _Started) -> None:
    """Stop being a user; stop the server too when no live user remains."""
    server, proc = started.server, started.proc
    async with _state_lock(data_dir):
        state = _read_state(data_dir)
        if state is None or state.pid != server.pid:
            # No longer the recorded server: nobody else can find it, so it is ours to end.
            if proc is not None:
                await asyncio.to_thread(_stop_child, proc)
            return
        users = [user for user in state.users if pid_alive(user)]
        with suppress(ValueError):
            users.remove(os.getpid())
        if users:
            _write_state(data_dir, _State(state.pid, state.port, tuple(users)))
            if proc is not None:
                # Whoever stops it later cannot reap our child; this thread does, no zombie.
                threading.Thread(target=proc.wait, name="embedded-db-reaper", daemon=True).start()
            log.info("embedded database left running", extra={"users": len(users)})
            return
        if proc is not None:
            await asyncio.to_thread(_stop_child, proc)
        else:
            await asyncio.to_thread(_stop_pid, state.pid)
        with suppress(FileNotFoundError):
            (data_dir / STATE_FILE).unlink()
    log.info("embedded database stopped", extra={"pid": server.pid})


@asynccontextmanager
async def embedded_server(
    data_dir: Path, *, timeout: float = 60.0, cache_size: str = "1G"
) -> AsyncIterator[EmbeddedServer]:
    """Share the running embedded server on `data_dir`, or start one; the last user stops it.

    Raises StoreUnavailable when a server has to be started and does not answer within
    `timeout` seconds.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    started = await _join(data_dir, timeout, cache_size)
    try:
        yield started.server
    finally:
        await _leave(data_dir, started)
