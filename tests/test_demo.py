"""`beacon demo`, the main job, end to end: three national nodes and an aggregator in one process,
the printed queries answered as they say, a clean stop on SIGINT and SIGTERM, data reused."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp

EXAMPLE = re.compile(r"# (\S+): (.+)\n  beacon query (.+)\n  curl -s '(http://[^']+)'")
SEVERAL = "found in several countries"
ONE = "found in one country only"
NOWHERE = "the same position, another ALT: found nowhere"
NODE = re.compile(r"  ([A-Z]{2}) node +(http://\S+)/  dataset (\S+),")


def free_ports(count: int) -> int:
    """A port such that it and the next `count - 1` are free now."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if base + count > 65535:
            continue
        sockets = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()


def demo_env(data_dir: Path, port: int) -> dict[str, str]:
    env = {**os.environ, "BEACON_DATA_DIR": str(data_dir), "BEACON_PORT": str(port)}
    for name in ("BEACON_MONGO_URI", "BEACON_DB", "BEACON_HOST"):
        env.pop(name, None)
    return env


async def start_demo(data_dir: Path, port: int) -> tuple[asyncio.subprocess.Process, str]:
    """Start the demo; return the process and what it printed up to the OpenAPI line."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "beacon",
        "demo",
        env=demo_env(data_dir, port),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    printed = ""
    while "OpenAPI:" not in printed:
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=120)
        if not line:
            _, err = await proc.communicate()
            raise AssertionError(f"the demo stopped before serving:\n{err.decode()}")
        printed += line.decode()
    return proc, printed


async def stop(proc: asyncio.subprocess.Process, sig: signal.Signals) -> str:
    proc.send_signal(sig)
    _, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, err.decode()
    return err.decode()


async def get_json(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with session.get(url) as response:
        assert response.status == 200, url
        body: dict[str, Any] = await response.json()
        return body


async def beacon_query(args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "beacon",
        "query",
        *shlex.split(args),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert err == b""
    assert proc.returncode is not None
    return proc.returncode, out.decode()


def found_in(answer: dict[str, Any]) -> list[str]:
    return [m["country"] for m in answer["info"]["members"] if m.get("exists")]


async def check_examples(printed: str, port: int) -> None:
    """Every printed example answers as its title says, by curl's URL and by `beacon query`."""
    examples = {title.split(" (")[0]: (q, url) for _, title, q, url in EXAMPLE.findall(printed)}
    assert set(examples) == {SEVERAL, ONE, NOWHERE}
    nodes = NODE.findall(printed)
    assert [country for country, _, _ in nodes] == ["SE", "FI", "ES"]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        answers = {title: await get_json(session, url) for title, (_, url) in examples.items()}
        infos = [await get_json(session, f"{url}/info") for _, url, _ in nodes]
        datasets = await get_json(session, f"http://127.0.0.1:{port}/datasets")
    assert len({info["response"]["id"] for info in infos}) == 3
    assert sorted(d["id"] for d in datasets["response"]["collections"]) == sorted(
        dataset for _, _, dataset in nodes
    )
    several = answers[SEVERAL]
    assert several["responseSummary"]["exists"] is True
    assert len(found_in(several)) >= 2
    assert all(m["status"] == "ok" for m in several["info"]["members"])
    one = answers[ONE]
    assert one["responseSummary"]["exists"] is True
    assert len(found_in(one)) == 1
    nowhere = answers[NOWHERE]
    assert nowhere["responseSummary"]["exists"] is False
    assert found_in(nowhere) == []
    for title, exists in ((SEVERAL, "yes"), (ONE, "yes"), (NOWHERE, "no")):
        code, out = await beacon_query(examples[title][0])
        lines = out.splitlines()
        assert code == 0
        assert lines[0].split() == [
            "member",
            "country",
            "status",
            "exists",
            "count",
            "latency",
            "ms",
        ]
        assert len(lines) >= 5
        assert lines[-1].startswith(f"network: exists {exists}")


async def test_demo_serves_a_network_and_reuses_its_data(tmp_path):
    port = free_ports(4)
    proc, printed = await start_demo(tmp_path, port)
    try:
        assert f"European demo network on http://127.0.0.1:{port}/" in printed
        await check_examples(printed, port)
    finally:
        err = await stop(proc, signal.SIGINT)
    assert "Simulating one population of 1,150 people" in err
    assert err.count("Ingesting ") == 3
    assert not (tmp_path / "server.json").exists()

    proc, again = await start_demo(tmp_path, port)
    err = await stop(proc, signal.SIGTERM)
    assert err.count("already ingested") == 3
    assert "Simulating" not in err
    assert "Ingesting" not in err
    assert EXAMPLE.findall(again) == EXAMPLE.findall(printed)
    assert not (tmp_path / "server.json").exists()
