"""`beacon aggregate` as an operator runs it: config checked, members served, SIGHUP reloads."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp

from tests.aggregator.conftest import COUNT, FI_ROWS, SAMPLES, SE_ROWS, NodeFactory
from tests.aggregator.support import eventually, toml


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def beacon(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "beacon",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_check_lists_the_members(tmp_path: Path) -> None:
    config = tmp_path / "network.toml"
    config.write_text(toml([("se", "http://127.0.0.1:1/se"), ("fi", "https://fi.example")]))
    proc = await beacon("aggregate", "--config", str(config), "--check")
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert (proc.returncode, err) == (0, b"")
    assert out.decode().splitlines() == [
        "configuration is valid: 2 members",
        "  se (SE) http://127.0.0.1:1/se timeout 2 s",
        "  fi (FI) https://fi.example timeout 2 s",
    ]


async def test_every_problem_is_one_line_of_its_own(tmp_path: Path) -> None:
    config = tmp_path / "network.toml"
    config.write_text(
        '[network]\nk = 0\n[[members]]\nid = "se"\ncountry = "se"\nname = "x"\n'
        'url = "ftp://x"\ntoken_env = "NOT_SET_ANYWHERE"\n'
    )
    proc = await beacon("aggregate", "--config", str(config))
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert (proc.returncode, out) == (2, b"")
    assert err.decode().splitlines() == [
        "configuration problems:",
        f"- {config}: members/0/country: 'se' has characters that are not allowed",
        f"- {config}: members/0/url: 'ftp://x' has characters that are not allowed",
        f"- {config}: network/k: 0 is less than the minimum of 1",
        "- members[0] (se): environment variable NOT_SET_ANYWHERE is not set",
    ]


async def test_without_a_config_it_says_what_it_needs() -> None:
    proc = await beacon("aggregate")
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    assert "beacon aggregate needs --config network.toml" in err.decode()


async def test_serves_the_members_and_reloads_them_on_sighup(
    national_node: NodeFactory, tmp_path: Path
) -> None:
    se = await national_node("se", SE_ROWS, SAMPLES)
    fi = await national_node("fi", FI_ROWS, SAMPLES)
    config = tmp_path / "network.toml"
    config.write_text(toml([("se", se)]))
    port = free_port()
    proc = await beacon("aggregate", "--config", str(config), "--port", str(port))
    root = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:

            async def members() -> list[str]:
                try:
                    async with session.get(f"{root}/g_variants", params=COUNT) as response:
                        body = await response.json()
                except aiohttp.ClientConnectionError:
                    return []
                return [line["id"] for line in body["info"]["members"]]

            async def only_se() -> bool:
                return await members() == ["se"]

            await eventually(only_se, within=30)
            # Rewritten but with its old mtime: only the signal can tell the aggregator.
            stat = config.stat()
            config.write_text(toml([("se", se), ("fi", fi)]))
            os.utime(config, ns=(stat.st_atime_ns, stat.st_mtime_ns))
            await asyncio.sleep(1.5)
            assert await members() == ["se"]
            proc.send_signal(signal.SIGHUP)

            async def both() -> bool:
                return await members() == ["se", "fi"]

            await eventually(both, within=5)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    assert f"Beacon aggregator over 1 member on {root}/" in err.decode()
