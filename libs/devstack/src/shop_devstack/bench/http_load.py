"""B4's fallback HTTP client when `wrk` is missing: N keep-alive connections (httpx) in a closed loop.

python -m shop_devstack.bench.http_load URL CONNECTIONS SECONDS   ->   prints "REQUESTS_PER_S NON_2XX"
"""

from __future__ import annotations

import asyncio
import sys
import time

import httpx
import uvloop


async def load(url: str, connections: int, seconds: float) -> tuple[float, int]:
    done = failed = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(timeout=30.0, limits=limits) as client:
        until = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done, failed
            while time.perf_counter() < until:
                reply = await client.get(url)
                done += 1
                failed += reply.status_code >= 300

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        return done / (time.perf_counter() - started), failed


def main() -> None:
    rate, failed = uvloop.run(load(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
    print(f"{rate:.1f} {failed}", flush=True)


if __name__ == "__main__":
    main()
