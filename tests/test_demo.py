"""`beacon demo`, the main job, end to end: simulate, ingest, serve, print queries that work."""

import asyncio
import os
import re
import signal
import socket
import sys
from pathlib import Path

import aiohttp


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def start_demo(data_dir: Path, port: int) -> tuple[asyncio.subprocess.Process, str]:
    """Start the demo; return the process and what it printed up to the OpenAPI line."""
    env = {**os.environ, "BEACON_DATA_DIR": str(data_dir), "BEACON_PORT": str(port)}
    env.pop("BEACON_MONGO_URI", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "beacon",
        "demo",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    printed = ""
    while "OpenAPI:" not in printed:
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=240)
        assert line, "the demo stopped before serving"
        printed += line.decode()
    return proc, printed


async def stop(proc: asyncio.subprocess.Process) -> str:
    proc.send_signal(signal.SIGINT)
    _, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0
    return err.decode()


async def test_demo_serves_its_examples_and_reuses_its_data(tmp_path):
    port = free_port()
    proc, printed = await start_demo(tmp_path, port)
    try:
        urls = re.findall(r"curl -s '(http://[^']+/g_variants\?[^']+)'", printed)
        assert len(urls) == 5
        async with aiohttp.ClientSession() as session:
            answers = []
            for url in urls:
                async with session.get(url) as response:
                    assert response.status == 200
                    answers.append((await response.json())["responseSummary"]["exists"])
        assert answers == [True, True, True, True, False]
    finally:
        err = await stop(proc)
    assert "Simulating a cohort of 500 people" in err
    assert not (tmp_path / "server.json").exists()

    proc, _ = await start_demo(tmp_path, port)
    err = await stop(proc)
    assert "already ingested" in err
    assert "Simulating" not in err
