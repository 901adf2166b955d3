"""The embedded default database: a SecantusDB server run as a child process on 127.0.0.1.

The data directory persists between runs. A small state file in it lets a second process (an
ingest while the node runs) find and share the running server instead of starting another one,
which WiredTiger's exclusive lock would refuse anyway. Only the process that started the server
stops it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
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


@dataclass(frozen=True)
class EmbeddedServer:
    uri: str
    pid: int
    owned: bool


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


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _uri(port: int) -> str:
    return f"mongodb://127.0.0.1:{port}/?directConnection=true"


def _running(data_dir: Path) -> EmbeddedServer | None:
    """The server another process of ours started on this data directory, if it still runs."""
    state = data_dir / STATE_FILE
    try:
        info = json.loads(state.read_text())
        pid, port = int(info["pid"]), int(info["port"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if pid_alive(pid) and _answers(port):
        return EmbeddedServer(_uri(port), pid, owned=False)
    return None


async def _pings(port: int) -> bool:
    """Whether the server answers a command, not just a TCP connect.

    SecantusDB accepts connections before it has finished starting, and a SIGTERM in that window
    is lost (the server then hangs until killed), so a server is ready only once it answers.
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
        if _answers(port) and await _pings(port):
            return
        await asyncio.sleep(0.05)
    proc.kill()
    raise StoreUnavailable(
        f"the embedded database did not start within {timeout:.0f} s; see {log_path}"
    )


def _stop(proc: subprocess.Popen[bytes], state: Path) -> None:
    with suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        log.warning("embedded database ignored SIGTERM for 30 s; killing it")
        proc.kill()
        proc.wait()
    with suppress(FileNotFoundError):
        state.unlink()


@asynccontextmanager
async def embedded_server(
    data_dir: Path, *, timeout: float = 60.0, cache_size: str = "1G"
) -> AsyncIterator[EmbeddedServer]:
    """Share the running embedded server on `data_dir`, or start one and stop it on exit."""
    data_dir.mkdir(parents=True, exist_ok=True)
    existing = _running(data_dir)
    if existing is not None:
        log.info("using the embedded database already running", extra={"pid": existing.pid})
        yield existing
        return
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
        proc = subprocess.Popen(
            command,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    state = data_dir / STATE_FILE
    try:
        await _wait_ready(proc, port, log_path, timeout)
        state.write_text(json.dumps({"pid": proc.pid, "port": port}))
        log.info("embedded database started", extra={"pid": proc.pid, "port": port})
        yield EmbeddedServer(_uri(port), proc.pid, owned=True)
    finally:
        await asyncio.to_thread(_stop, proc, state)
