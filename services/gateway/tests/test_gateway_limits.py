"""Size limits at the edge: request bodies (413 before authentication and parsing, by Content-Length
and while a chunked body streams), the request line and headers, and gRPC messages both ways."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import grpc
import httpx
import pytest

from shop.storefront.v1 import storefront_pb2

if TYPE_CHECKING:
    from conftest import Client, GatewayFactory


async def chunks(count: int, size: int) -> AsyncIterator[bytes]:
    """A body without Content-Length (sent chunked): a JSON string that never ends in time."""
    yield b'{"sku": "'
    for _ in range(count):
        yield b"A" * size


async def test_a_body_over_the_limit_is_413_before_authentication(gateway: Client) -> None:
    limit = gateway.runtime.settings.max_request_body_bytes
    assert limit == 1024 * 1024  # the default
    body = b'{"sku": "' + b"A" * limit + b'", "quantity": 1}'
    for headers in ({}, await gateway.auth(), {"Authorization": "Bearer not-a-token"}):
        response = await gateway.http.post(
            "/v1/cart/items", content=body, headers={**headers, "Content-Type": "application/json"}
        )
        problem = gateway.problem(response, 413, "REQUEST_TOO_LARGE")
        assert str(limit) in problem["detail"]
        assert response.headers["connection"] == "close"


async def test_a_chunked_body_is_cut_off_at_the_limit(make_gateway: GatewayFactory) -> None:
    async with make_gateway(max_request_body_bytes=4096) as client:
        headers = {**await client.auth(), "Content-Type": "application/json"}
        response = await client.http.post("/v1/cart/items", content=chunks(16, 1024), headers=headers)
        assert "content-length" not in response.request.headers
        client.problem(response, 413, "REQUEST_TOO_LARGE")
        # Within the limit the body reaches the application as it came (here: a bad quantity).
        small = [b'{"sku": "A-1", ', b'"quantity": 0}']

        async def stream() -> AsyncIterator[bytes]:
            for part in small:
                yield part

        response = await client.http.post("/v1/cart/items", content=stream(), headers=headers)
        assert [e["field"] for e in client.problem(response, 400, "INVALID_ARGUMENT")["errors"]] == ["quantity"]


async def test_headers_over_the_limit_are_refused(make_gateway: GatewayFactory) -> None:
    async with make_gateway(max_request_header_bytes=4096) as client:
        headers = await client.auth()
        response = await client.http.get("/v1/cart", headers={**headers, "X-Padding": "p" * 2048})
        assert response.status_code != 431
        for padding in ({"headers": {**headers, "X-Padding": "p" * 8192}}, {"params": {"q": "x" * 8192}}):
            async with httpx.AsyncClient(base_url=str(client.http.base_url)) as fresh:
                response = await fresh.get("/v1/cart", **padding)  # type: ignore[arg-type]
                client.problem(response, 431, "HEADERS_TOO_LARGE")
        # A header block larger than the limit that arrives in pieces: uvicorn's parser refuses it.
        host, port = client.http.base_url.host, client.http.base_url.port
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"GET /v1/categories HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"p" * 8192)
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
        assert status_line.startswith(b"HTTP/1.1 400"), status_line
        writer.close()


async def test_grpc_messages_over_the_limits_are_resource_exhausted(make_gateway: GatewayFactory) -> None:
    async with make_gateway(grpc_max_receive_message_bytes=2048) as client:
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await client.grpc.ListProducts(storefront_pb2.ListProductsRequest(query="q" * 4096))
        assert failed.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        reply = await client.grpc.ListProducts(storefront_pb2.ListProductsRequest(query="q" * 100))
        assert isinstance(reply, storefront_pb2.ListProductsResponse)
    async with make_gateway(grpc_max_send_message_bytes=1024) as client:
        for _ in range(5):
            await client.seed_product(prices=(100, 200, 300), stock=(1, 1, 1))  # products enough for more than 1 KiB
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await client.grpc.ListProducts(storefront_pb2.ListProductsRequest(page_size=100))
        assert failed.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_an_idle_connection_outlives_the_proxies_in_front(make_gateway: GatewayFactory) -> None:
    """A connection idle for 6 s (past uvicorn's default of 5 s) still carries the next request: the
    ingress or load balancer in front keeps idle connections for 60 s, and a POST it sends as the
    gateway closes one is lost. HTTP_KEEPALIVE_SECONDS closes it once idle that long."""

    async def two_requests(client: Client, idle: float) -> tuple[object, object]:
        pool = httpx.Limits(keepalive_expiry=60)  # a proxy's: httpx's own default drops it at 5 s
        base_url = f"http://127.0.0.1:{client.runtime.http_port}"
        streams = []
        async with httpx.AsyncClient(base_url=base_url, limits=pool, timeout=10) as proxy:
            for _ in range(2):
                response = await proxy.post("/v1/cart/items", json={"sku": "A-1", "quantity": 0})
                assert response.status_code == 401, response.text  # answered, on whichever connection
                streams.append(response.extensions["network_stream"])
                await asyncio.sleep(idle)
        return streams[0], streams[1]

    async with make_gateway() as default, make_gateway(http_keepalive_seconds=1) as short:
        assert default.runtime.settings.http_keepalive_seconds == 75
        kept, closed = await asyncio.gather(two_requests(default, idle=6), two_requests(short, idle=2))
    assert kept[1] is kept[0]  # the same connection
    assert closed[1] is not closed[0]  # the gateway closed the idle one; the client opened another
