"""Load generator, run as its own process: GETs a list of URLs at a fixed concurrency.

    python bench/loadgen.py URLS.json CONCURRENCY REQUESTS

Prints one JSON line: requests, errors, seconds, rps, p50_ms, p99_ms.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import aiohttp


async def _worker(
    session: aiohttp.ClientSession,
    urls: list[str],
    next_index: list[int],
    total: int,
    latencies: list[float],
    errors: list[int],
) -> None:
    while next_index[0] < total:
        i = next_index[0]
        next_index[0] += 1
        started = time.perf_counter()
        async with session.get(urls[i % len(urls)]) as response:
            await response.read()
            if response.status != 200:
                errors.append(response.status)
        latencies.append(time.perf_counter() - started)


async def run(urls: list[str], concurrency: int, total: int) -> dict[str, float]:
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    latencies: list[float] = []
    errors: list[int] = []
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        warm = min(total // 10, 50)
        await asyncio.gather(*(_worker(session, urls, [0], warm, [], []) for _ in range(1)))
        next_index = [0]
        started = time.perf_counter()
        await asyncio.gather(
            *(
                _worker(session, urls, next_index, total, latencies, errors)
                for _ in range(concurrency)
            )
        )
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "seconds": round(elapsed, 3),
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 2),
    }


def main() -> None:
    with open(sys.argv[1]) as handle:
        urls = json.load(handle)
    print(json.dumps(asyncio.run(run(urls, int(sys.argv[2]), int(sys.argv[3])))))


if __name__ == "__main__":
    main()
