"""Aggregator fan-out overhead and deadline, against fake members that answer after a fixed delay.

    python bench/aggregator.py [--members 24] [--delay-ms 20] [--deadline 0.5]

Processes: the fake members (bench/members.py, all of them in one process, one port each), the
aggregator (`beacon aggregate`) and the load generator (bench/loadgen.py) each run on their own,
all on 127.0.0.1, sharing the machine's cores. The aggregator's answer cache is off, so every
request asks every member. Overhead is the latency beyond the members' own delay (or beyond the
deadline, for the deadline rows); the members alone, asked directly, are the baseline.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
COUNTRIES = ("SE", "FI", "NO", "DK", "EE", "LV", "LT", "PL", "DE", "NL", "BE", "FR")
OVERHEAD_TARGET_MS = 15.0
DEADLINE_SLACK_MS = 20.0
MEMBER_COUNT = 12
"""What each member of bench/members.py counts, so the network total is 12 per member."""


@dataclass(frozen=True)
class Cell:
    """One row of the table: a workload at one concurrency, and its floor (what is not overhead)."""

    workload: str
    concurrency: int
    floor_ms: float
    result: dict[str, float]

    def row(self) -> str:
        r = self.result
        over = f"{r['p50_ms'] - self.floor_ms:.1f} | {r['p99_ms'] - self.floor_ms:.1f}"
        return (
            f"| {self.workload} | {self.concurrency} | {int(r['requests'])} | {r['p50_ms']:.1f} "
            f"| {r['p99_ms']:.1f} | {over} | {r['rps']:.0f} | {int(r['errors'])} |"
        )


def _free_ports(n: int) -> list[int]:
    """`n` distinct free ports (all held open together while picked, so none repeats)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def _listening(port: int, timeout: float = 60) -> None:
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


@contextlib.contextmanager
def _process(args: list[str], log: Path) -> Iterator[subprocess.Popen[str]]:
    """A child process, its stderr kept in `log`, terminated on the way out."""
    with log.open("w") as err:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, text=True)
        try:
            yield proc
        finally:
            proc.terminate()
            proc.wait()


@contextlib.contextmanager
def _members(ports: list[int], delay_ms: float, hanging: int) -> Iterator[None]:
    args = [sys.executable, str(HERE / "members.py"), *map(str, ports)]
    args += ["--delay-ms", str(delay_ms), "--hang", str(hanging)]
    with _process(args, OUT / "members.log") as proc:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the members did not start; see {OUT / 'members.log'}")
        yield


def _network_toml(port: int, members: list[int], network: dict[str, float]) -> str:
    lines = ["[server]", 'host = "127.0.0.1"', f"port = {port}", "", "[network]"]
    lines += [f"{key} = {value}" for key, value in network.items()]
    timeout = 2 * float(network.get("deadline_seconds", 5.0))  # the deadline, not a timeout, binds
    for i, member in enumerate(members):
        lines += [
            "",
            "[[members]]",
            f'id = "m{i:02d}"',
            f'country = "{COUNTRIES[i % len(COUNTRIES)]}"',
            f'name = "bench member {i:02d}"',
            f'url = "http://127.0.0.1:{member}"',
            f"timeout_seconds = {timeout}",
        ]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def _aggregator(name: str, members: list[int], network: dict[str, float]) -> Iterator[str]:
    """A running `beacon aggregate` over `members`; yields its base URL."""
    (port,) = _free_ports(1)
    config = OUT / f"network-{name}.toml"
    config.write_text(_network_toml(port, members, network))
    args = [sys.executable, "-m", "beacon", "aggregate", "--config", str(config)]
    with _process(args, OUT / f"aggregator-{name}.log"):
        _listening(port)
        yield f"http://127.0.0.1:{port}"


def _queries(root: str, n: int) -> list[str]:
    """`n` distinct count queries (the cache is off; distinct so nothing could be reused)."""
    return [
        f"{root}/g_variants?referenceName=17&start={43_044_294 + i}"
        "&referenceBases=G&alternateBases=A&requestedGranularity=count"
        for i in range(n)
    ]


def _check(root: str, answered: int, total: int) -> None:
    """One query by hand: the expected members answered, and their counts were summed."""
    with urllib.request.urlopen(_queries(root, 1)[0], timeout=30) as response:
        body = json.load(response)
    network = body["info"]["network"]
    got = (network["membersAnswered"], network["membersTotal"])
    if got != (answered, total):
        raise RuntimeError(f"expected {answered} of {total} members to answer, got {got}")
    if body["responseSummary"]["numTotalResults"] != MEMBER_COUNT * answered:
        raise RuntimeError(f"unexpected total {body['responseSummary']}")


def _loadgen(urls: list[str], concurrency: int, requests: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(urls, handle)
    args = [sys.executable, str(HERE / "loadgen.py"), handle.name, str(concurrency), str(requests)]
    try:
        out = subprocess.run(args, capture_output=True, text=True, check=True)
    finally:
        os.unlink(handle.name)
    result: dict[str, float] = json.loads(out.stdout)
    return result


def _measure(workload: str, root: str, floor_ms: float, runs: list[tuple[int, int]]) -> list[Cell]:
    """`runs` are (concurrency, requests); each row is printed as soon as it is measured."""
    cells = []
    for concurrency, requests in runs:
        urls = _queries(root, requests)
        cell = Cell(workload, concurrency, floor_ms, _loadgen(urls, concurrency, requests))
        print(cell.row(), flush=True)
        cells.append(cell)
    return cells


def _machine() -> str:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} cores ({model or platform.machine()}), {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, "
        f"aiohttp {metadata.version('aiohttp')}; members, aggregator and load generator are "
        "separate processes, all on 127.0.0.1"
    )


def _busy_seconds() -> tuple[float, float]:
    """CPU seconds used so far by the whole machine, and by this script and its ended children."""
    ticks = os.sysconf("SC_CLK_TCK")
    with open("/proc/stat") as stat:
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(
            int, stat.readline().split()[1:9]
        )
    ours = sum(
        usage.ru_utime + usage.ru_stime
        for usage in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    )
    return (user + nice + system + irq + softirq + steal) / ticks, ours


def _verdict(name: str, value: float, limit: float) -> str:
    return f"{'PASS' if value < limit else 'FAIL'}: {name} {value:.1f} ms (target < {limit:.0f} ms)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=24)
    parser.add_argument("--delay-ms", type=float, default=20.0)
    parser.add_argument("--deadline", type=float, default=0.5, help="seconds")
    parser.add_argument("--requests", type=int, default=1000, help="at concurrency 1")
    parser.add_argument("--requests-concurrent", type=int, default=3000, help="at concurrency 32")
    parser.add_argument(
        "--deadline-requests", type=int, default=64, help="at concurrency 1 (5 times at 32)"
    )
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    print(_machine())
    print(
        "overhead = latency minus the floor: the members' delay, or the deadline in the rows "
        "that wait for it"
    )
    print()
    print(
        "| workload | concurrency | requests | p50 ms | p99 ms | overhead p50 ms "
        "| overhead p99 ms | req/s | errors |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    *good, hanging = _free_ports(args.members + 1)
    busy, ours = _busy_seconds()
    started = time.monotonic()
    with _members([*good, hanging], args.delay_ms, hanging):
        verdicts = _run(args, good, hanging)
    busy_after, ours_after = _busy_seconds()
    others = max(0.0, busy_after - busy - (ours_after - ours))
    seconds = time.monotonic() - started
    print()
    print(
        f"other processes used {others:.0f} CPU seconds during the {seconds:.0f} s run "
        "(0 on a quiet machine; more means noisier figures)"
    )
    print("\n".join(verdicts))


def _run(args: argparse.Namespace, good: list[int], hanging: int) -> list[str]:
    delay, n = args.delay_ms, args.members
    plain = [(1, args.requests), (32, args.requests_concurrent)]
    alone = [(1, args.requests // 2), (32, args.requests_concurrent)]
    _measure(f"1 member alone ({delay:g} ms)", f"http://127.0.0.1:{good[0]}", delay, alone)
    with _aggregator("fanout", good, {"cache_entries": 0}) as root:
        _check(root, n, n)
        fanout = _measure(f"{n} members ({delay:g} ms), cache off", root, delay, plain)
    deadline_ms = args.deadline * 1000
    network = {"cache_entries": 0, "deadline_seconds": args.deadline}
    slow = [*good[: n - 1], hanging]
    with _aggregator("deadline", slow, {**network, "failures_to_open": 1000}) as root:
        _check(root, n - 1, n)
        runs = [(1, args.deadline_requests), (32, 5 * args.deadline_requests)]
        name = f"{n - 1} members + 1 hanging, deadline {deadline_ms:g} ms, breaker off"
        deadline = _measure(name, root, deadline_ms, runs)
    with _aggregator("breaker", slow, network) as root:
        _check(root, n - 1, n)
        name = f"{n - 1} members + 1 hanging, default breaker (open after warm-up)"
        _measure(name, root, delay, [(1, args.requests // 4)])
    limit = deadline_ms + DEADLINE_SLACK_MS
    overhead = fanout[0].result["p99_ms"] - delay
    return [
        _verdict("fan-out overhead p99 at concurrency 1:", overhead, OVERHEAD_TARGET_MS),
        *(
            _verdict(f"deadline p99 at concurrency {cell.concurrency}:",
                     cell.result["p99_ms"], limit)
            for cell in deadline
        ),
    ]  # fmt: skip


if __name__ == "__main__":
    main()
