"""Errors as problem+json: the gRPC-code -> HTTP-status table, and real backend errors mapped through
the gateway (catalog, pricing, inventory; a backend that is down; one that is slow or broken)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import grpc
import pytest

from shop.inventory.v1 import inventory_pb2
from shop.order.v1 import order_pb2, order_pb2_grpc
from shop.storefront.v1 import storefront_pb2
from shop_gateway.app.errors import UpstreamError
from shop_gateway.httpapi.problems import HTTP_STATUS, domain_problem, http_status
from shopkit.auth import metadata_for
from shopkit.errors import parse_rpc_error

if TYPE_CHECKING:
    from conftest import Client, GatewayFactory

EXPECTED_STATUS = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 409,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}


@pytest.mark.parametrize("code", list(grpc.StatusCode), ids=lambda c: c.name)
def test_every_grpc_code_has_an_http_status(code: grpc.StatusCode) -> None:
    assert code in HTTP_STATUS
    assert http_status(code) == EXPECTED_STATUS[code.name]


@pytest.mark.parametrize(
    ("reason", "status"),
    [("PAYMENT_DECLINED", 402), ("PAYMENT_ERROR", 502), ("FRAUD_BLOCKED", 422), ("UPSTREAM_ERROR", 502)],
)
def test_some_reasons_override_the_status_of_their_code(reason: str, status: int) -> None:
    assert http_status(grpc.StatusCode.FAILED_PRECONDITION, reason) == status


async def test_backend_invalid_argument_is_400_with_field_violations_in_client_terms(gateway: Client) -> None:
    response = await gateway.http.get("/v1/products", params={"page_token": "not-a-token!"})
    body = gateway.problem(response, 400, "INVALID_ARGUMENT")
    assert [e["field"] for e in body["errors"]] == ["page_token"]  # catalog said page.page_token
    assert body["type"] == "https://shop.example.com/problems/invalid-argument" and body["title"] == "Bad Request"


async def test_malformed_and_mistyped_bodies_are_400(gateway: Client) -> None:
    headers = await gateway.auth()
    response = await gateway.http.post("/v1/cart/items", json={"sku": "A-1", "quantity": "lots"}, headers=headers)
    assert [e["field"] for e in gateway.problem(response, 400, "INVALID_ARGUMENT")["errors"]] == ["quantity"]
    response = await gateway.http.post(
        "/v1/cart/items", content=b'{"sku": ', headers={**headers, "Content-Type": "application/json"}
    )
    assert [e["field"] for e in gateway.problem(response, 400, "INVALID_ARGUMENT")["errors"]] == ["body"]
    response = await gateway.http.post("/v1/checkout", json={"payment_method": "pm_1", "oops": 1}, headers=headers)
    assert "oops" in {e["field"] for e in gateway.problem(response, 400, "INVALID_ARGUMENT")["errors"]}


async def test_backend_not_found_is_404(gateway: Client) -> None:
    response = await gateway.http.get("/v1/products/7b0cbcc2-0d3e-4b0e-9d8e-5d1a1b0a0a0a")
    body = gateway.problem(response, 404, "NOT_FOUND")
    assert body["instance"] == "/v1/products/7b0cbcc2-0d3e-4b0e-9d8e-5d1a1b0a0a0a" and len(body["trace_id"]) == 32


async def test_backend_already_exists_is_409_with_its_reason(gateway: Client) -> None:
    seeded = await gateway.seed_product(prices=(100,), stock=(1,))
    duplicate = {"name": "Dup", "slug": seeded.slug, "category": seeded.category_slug, "variants": [{"sku": "DUP-1"}]}
    response = await gateway.http.post("/v1/products", json=duplicate, headers=await gateway.auth("admin"))
    gateway.problem(response, 409, "SLUG_TAKEN")


async def test_backend_failed_precondition_is_409_with_the_preconditions(gateway: Client) -> None:
    seeded = await gateway.seed_product(prices=(100,), stock=(5,))
    sku, warehouse = seeded.skus[0], gateway.backends.locations[0]
    request = inventory_pb2.ReserveRequest(
        reservation_id=gateway.unique("r"), lines=[inventory_pb2.ReservationLine(sku=sku, quantity=4)]
    )
    request.ship.country = "US"
    await gateway.backends.inventory.Reserve(request, metadata=metadata_for("service"))
    entries = {"entries": [{"sku": sku, "location_id": warehouse, "on_hand": 1}]}
    response = await gateway.http.put("/v1/stock", json=entries, headers=await gateway.auth("admin"))
    body = gateway.problem(response, 409, "BELOW_RESERVED")
    assert body["preconditions"] == [
        {"type": "BELOW_RESERVED", "subject": f"{sku}@{warehouse}", "description": "on-hand would be 1, reserved is 4"}
    ]
    page = (await gateway.http.get(f"/v1/products/{seeded.product_id}")).json()
    assert page["variants"][0]["availability"]["available"] == 1  # 5 on hand, 4 reserved: unchanged


async def test_a_backend_that_is_down_is_503(gateway: Client) -> None:
    response = await gateway.http.get("/v1/orders", headers=await gateway.auth())
    body = gateway.problem(response, 503, "UNAVAILABLE")
    assert "order service" in body["detail"]


# --- a slow and a broken backend ------------------------------------------------------------------


class FlakyOrders(order_pb2_grpc.OrderServiceServicer):  # type: ignore[misc]
    """A real gRPC server standing in for the order service: ListOrders is slow, GetOrder crashes."""

    async def ListOrders(self, request: order_pb2.ListOrdersRequest, context: Any) -> order_pb2.ListOrdersResponse:
        await asyncio.sleep(5)
        return order_pb2.ListOrdersResponse()

    async def GetOrder(self, request: order_pb2.GetOrderRequest, context: Any) -> order_pb2.GetOrderResponse:
        raise RuntimeError("the database is on fire")


@pytest.fixture
async def flaky_orders() -> AsyncIterator[str]:
    server = grpc.aio.server()
    order_pb2_grpc.add_OrderServiceServicer_to_server(FlakyOrders(), server)  # type: ignore[abstract]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield f"127.0.0.1:{port}"
    await server.stop(None)


async def test_slow_backend_is_504_and_broken_backend_is_502(make_gateway: GatewayFactory, flaky_orders: str) -> None:
    async with make_gateway(order_addr=flaky_orders, request_timeout_seconds=0.5) as client:
        headers = await client.auth()
        started = asyncio.get_running_loop().time()
        response = await client.http.get("/v1/orders", headers=headers)
        client.problem(response, 504, "DEADLINE_EXCEEDED")
        assert asyncio.get_running_loop().time() - started < 3  # the request's deadline reached the backend call
        body = client.problem(await client.http.get("/v1/orders/o-1", headers=headers), 502, "UPSTREAM_ERROR")
        assert "fire" not in body["detail"]  # nothing of the backend's internals leaks
        grpc_headers = tuple((key.lower(), value) for key, value in headers.items())
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await client.grpc.GetOrder(storefront_pb2.GetOrderRequest(order_id="o-1"), metadata=grpc_headers)
        error = parse_rpc_error(failed.value)
        assert (error.code, error.reason) == (grpc.StatusCode.INTERNAL, "UPSTREAM_ERROR")
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await client.grpc.ListOrders(storefront_pb2.ListOrdersRequest(), metadata=grpc_headers, timeout=0.5)
        assert failed.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED


def test_every_429_says_when_to_retry_even_when_the_service_behind_did_not() -> None:
    # A service's RESOURCE_EXHAUSTED without a RetryInfo: the document promises Retry-After on every 429.
    error = UpstreamError("catalog", grpc.StatusCode.RESOURCE_EXHAUSTED, "too much at once")

    answer = domain_problem(error)

    assert (answer.status_code, answer.headers["Retry-After"]) == (429, "1")
