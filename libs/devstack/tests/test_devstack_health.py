"""The status table names the gateway's backends that are down: its public /readyz says only
`not_ready`, the detail is the gateway's `shop_gateway_backend_serving{backend}` metric."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry, Gauge, generate_latest

from shop_devstack.health import NOT_READY, HttpHealthProbe
from shopkit.testing import free_port


async def _serve(port: int, answers: dict[str, tuple[int, bytes]]) -> asyncio.Server:
    """A plain HTTP/1.1 server answering GET path -> (status, body)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        path = request.split(b" ")[1].decode()
        status, body = answers.get(path, (404, b""))
        writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
        await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", port)


@pytest.fixture
async def gateway_down() -> AsyncIterator[tuple[int, int]]:
    registry = CollectorRegistry()
    serving = Gauge("shop_gateway_backend_serving", "1 when SERVING", ["backend"], registry=registry)
    serving.labels("catalog").set(0)
    serving.labels("cart").set(1)
    serving.labels("order").set(0)
    http, metrics = free_port(), free_port()
    servers = [
        await _serve(http, {"/readyz": (503, b'{"status": "not_ready"}')}),
        await _serve(metrics, {"/metrics": (200, generate_latest(registry))}),
    ]
    yield http, metrics
    for server in servers:
        server.close()
        await server.wait_closed()


async def test_a_not_ready_gateway_shows_which_backends_are_down(gateway_down: tuple[int, int]) -> None:
    http, metrics = gateway_down
    assert (
        await HttpHealthProbe("127.0.0.1", http, metrics_port=metrics).check() == f"{NOT_READY} (catalog, order down)"
    )
    assert await HttpHealthProbe("127.0.0.1", http).check() == NOT_READY
