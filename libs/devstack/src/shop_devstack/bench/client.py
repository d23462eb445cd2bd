"""The load client, run in its own process so it never shares an event loop with a server.

It sends the same raw request bytes with the same channel settings to whichever server it is given
(no serialisation on either side of the client), N coroutines in a closed loop for a fixed time,
and prints one JSON line: calls, errors, requests/s, p50 and p99 in milliseconds.
Run: python -m shop_devstack.bench.client TARGET METHOD REQUEST_HEX CONCURRENCY DURATION WARMUP
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import asdict, dataclass

import grpc
import uvloop


@dataclass
class CaseResult:
    calls: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


async def measure(
    target: str, method: str, request: bytes, concurrency: int, duration: float, warmup: float
) -> CaseResult:
    async with grpc.aio.insecure_channel(target) as channel:
        call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)  # raw bytes
        await call(request, timeout=10)  # connect before the clock starts
        latencies: list[float] = []
        errors = 0
        measuring = False

        async def worker(until: float) -> None:
            nonlocal errors
            while (now := time.perf_counter()) < until:
                try:
                    await call(request, timeout=10)
                except grpc.aio.AioRpcError:
                    if measuring:
                        errors += 1
                    continue
                if measuring:
                    latencies.append(time.perf_counter() - now)

        if warmup > 0:
            end = time.perf_counter() + warmup
            await asyncio.gather(*(worker(end) for _ in range(concurrency)))
        measuring = True
        started = time.perf_counter()
        await asyncio.gather(*(worker(started + duration) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return CaseResult(
        calls=len(latencies),
        errors=errors,
        seconds=round(elapsed, 3),
        rps=round(len(latencies) / elapsed, 1),
        p50_ms=round(percentile(latencies, 0.50) * 1000, 3),
        p99_ms=round(percentile(latencies, 0.99) * 1000, 3),
    )


def main() -> None:
    target, method, request_hex, concurrency, duration, warmup = sys.argv[1:7]
    result = uvloop.run(
        measure(target, method, bytes.fromhex(request_hex), int(concurrency), float(duration), float(warmup))
    )
    print(json.dumps(asdict(result)), flush=True)


if __name__ == "__main__":
    main()
