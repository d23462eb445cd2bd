"""B5: catalog GetProduct against a bare grpc.aio echo server, measured in the same run.

On the suite's rig (its own PostgreSQL and NATS) a catalog server process, migrated, with one product
created through the admin API, and a bare grpc.aio echo server process that answers with the bytes of
that product's GetProduct response. A separate client process measures both, case after case, with
the same client and channel settings: requests/s, p50 and p99 at each concurrency. The ratio
catalog/echo is what the service's own work (interceptor, database read, mapping) adds to the transport.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from typing import Any

import grpc

from shop_devstack.bench.report import Figure, Report, Target, say
from shop_devstack.bench.rig import BenchError, Rig, free_port

GET_PRODUCT = "/shop.catalog.v1.CatalogService/GetProduct"
ADMIN = (("x-shop-role", "admin"),)
TARGET = Target("ratio", ">=", 0.7)


@dataclass
class Case:
    server: str
    concurrency: int
    calls: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float


async def get_product_case(rig: Rig, report: Report, *, concurrency: list[int], duration: float, warmup: float) -> None:
    """B5: GetProduct vs echo at each concurrency; a figure per concurrency."""
    catalog_target, _ = await rig.start_catalog("catalog")
    request, response = await _create_product(catalog_target)
    echo_target = await _start_echo(rig, response)
    say(f"B5: GetProduct request {len(request)} B, response {len(response)} B; {duration:g} s per case")
    cases: list[Case] = []
    for level in concurrency:
        pair = {}
        for server, target in (("echo", echo_target), ("catalog", catalog_target)):
            result = await run_client(target, GET_PRODUCT, request, level, duration, warmup)
            pair[server] = Case(server=server, concurrency=level, **result)
            cases.append(pair[server])
        echo, catalog = pair["echo"], pair["catalog"]
        report.add(
            Figure(
                "B5",
                f"catalog GetProduct c={level}",
                catalog.rps,
                "req/s",
                TARGET,
                baseline=echo.rps,
                baseline_name="grpc.aio echo",
                note=f"p50 {catalog.p50_ms:.2f} ms vs {echo.p50_ms:.2f} ms",
            )
        )
    print(render(cases, len(request), len(response)), flush=True)


def bench_product() -> dict[str, Any]:
    """A product of ordinary size: a paragraph of text, attributes, three variants."""
    return {
        "slug": "bench-trail-running-shoe",
        "name": "Trail running shoe",
        "description": "A light, cushioned trail shoe with a grippy outsole, a breathable mesh upper and a "
        "rock plate for rough ground. Reflective details for early mornings; recycled laces.",
        "brand": "Northwind",
        "category_slug": "bench-shoes",
        "attributes": {"material": "mesh", "gender": "unisex", "terrain": "trail"},
        "channels": ["CHANNEL_WEB", "CHANNEL_MOBILE"],
        "status": "PRODUCT_STATUS_ACTIVE",
        "variants": [
            {
                "sku": f"BENCH-TRS-{size}",
                "title": f"EU {size}",
                "attributes": {"size": str(size), "color": "blue"},
                "weight_grams": 280 + size,
                "dimensions": {"length_mm": 330, "width_mm": 210, "height_mm": 120},
            }
            for size in (41, 42, 43)
        ],
    }


async def _create_product(target: str) -> tuple[bytes, bytes]:
    """Create the product through the admin API; the GetProduct request and response bytes."""
    from google.protobuf import json_format

    from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc

    async with grpc.aio.insecure_channel(target) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        await stub.CreateCategory(
            catalog_pb2.CreateCategoryRequest(category=catalog_pb2.Category(slug="bench-shoes", name="Shoes")),
            metadata=ADMIN,
            timeout=10,
        )
        product = json_format.ParseDict(bench_product(), catalog_pb2.Product())
        created = await stub.CreateProduct(
            catalog_pb2.CreateProductRequest(product=product, request_id="bench"), metadata=ADMIN, timeout=10
        )
        request = catalog_pb2.GetProductRequest(id=created.id)
        response = await stub.GetProduct(request, timeout=10)
    return request.SerializeToString(), response.SerializeToString()


async def _start_echo(rig: Rig, payload: bytes) -> str:
    payload_file = rig.folder / "echo-payload.bin"
    payload_file.write_bytes(payload)
    port = free_port()
    echo = rig.spawn("echo", [sys.executable, "-m", "shop_devstack.bench.echo_server", str(port), str(payload_file)])
    await rig.wait_port(port, echo)
    return f"127.0.0.1:{port}"


async def run_client(
    target: str, method: str, request: bytes, concurrency: int, duration: float, warmup: float
) -> dict[str, Any]:
    """The gRPC load client (its own process) against `target`: calls, errors, rps, p50 and p99."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shop_devstack.bench.client",
        target,
        method,
        request.hex(),
        str(concurrency),
        str(duration),
        str(warmup),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "GRPC_ENABLE_FORK_SUPPORT": "false"},
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), duration + warmup + 120)
    except TimeoutError as exc:
        process.kill()
        await process.wait()
        raise BenchError("the bench client did not finish in time") from exc
    if process.returncode != 0:
        raise BenchError(f"the bench client failed:\n{stderr.decode(errors='replace')}")
    result: dict[str, Any] = json.loads(stdout.decode().strip().splitlines()[-1])
    return result


def render(cases: list[Case], request_size: int, response_size: int) -> str:
    lines = [
        f"catalog GetProduct vs bare grpc.aio echo (request {request_size} B, response {response_size} B)",
        f"{'CONCURRENCY':<12}{'SERVER':<9}{'REQ/S':>10}{'P50 MS':>9}{'P99 MS':>9}{'CALLS':>8}{'ERRORS':>8}",
    ]
    for case in cases:
        lines.append(
            f"{case.concurrency:<12}{case.server:<9}{case.rps:>10.1f}{case.p50_ms:>9.3f}{case.p99_ms:>9.3f}"
            f"{case.calls:>8}{case.errors:>8}"
        )
    lines.append("")
    lines.append("ratio catalog/echo (throughput < 1 and latency > 1 mean the service costs more than gRPC):")
    for concurrency in sorted({c.concurrency for c in cases}):
        pair = {c.server: c for c in cases if c.concurrency == concurrency}
        echo, catalog = pair.get("echo"), pair.get("catalog")
        if echo is None or catalog is None or not echo.rps or not echo.p50_ms or not echo.p99_ms:
            continue
        lines.append(
            f"  c={concurrency:<3} req/s {catalog.rps / echo.rps:.2f}   p50 {catalog.p50_ms / echo.p50_ms:.2f}x"
            f"   p99 {catalog.p99_ms / echo.p99_ms:.2f}x"
        )
    return "\n".join(lines)
