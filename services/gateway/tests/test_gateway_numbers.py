"""Numbers at the edge: every integer a client sends is bounded before it reaches protobuf or a
service. Out of range is 400 naming the field (HTTP) or INVALID_ARGUMENT with a BadRequest field
violation (gRPC), decided by the gateway: the cart, checkout and order services behind the shared
gateway are not even running."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import grpc
import pytest

from shop.storefront.v1 import storefront_pb2
from shopkit.errors import parse_rpc_error

if TYPE_CHECKING:
    from conftest import Client

HUGE = [2**63, 2**64 + 1, 10**40, -(2**63) - 1]


def fields(client: Client, response: Any) -> set[str]:
    body = client.problem(response, 400, "INVALID_ARGUMENT")
    return {e["field"] for e in body["errors"]}


@pytest.mark.parametrize("value", HUGE)
async def test_cart_quantities_out_of_range_are_400(gateway: Client, value: int) -> None:
    headers = await gateway.auth()
    response = await gateway.http.post("/v1/cart/items", json={"sku": "A-1", "quantity": value}, headers=headers)
    assert "quantity" in fields(gateway, response)
    response = await gateway.http.patch("/v1/cart/items/A-1", json={"quantity": value}, headers=headers)
    assert "quantity" in fields(gateway, response)


async def test_a_quantity_no_stock_can_hold_is_400_even_within_int64(gateway: Client) -> None:
    headers = await gateway.auth()
    response = await gateway.http.post("/v1/cart/items", json={"sku": "A-1", "quantity": 2**62}, headers=headers)
    assert fields(gateway, response) == {"quantity"}


@pytest.mark.parametrize("etag", [b'"99999999999999999999999"', b"9223372036854775808", b'"\xb2"', b'W/"\xb9"'])
async def test_an_if_match_that_is_no_cart_version_is_400(gateway: Client, etag: bytes) -> None:
    """Too long for int64, or a digit of Latin-1 that is no ASCII digit (superscript two)."""
    token = (await gateway.auth())["Authorization"].encode()
    response = await gateway.http.request(
        "DELETE", "/v1/cart/coupon", headers={b"Authorization": token, b"If-Match": etag}
    )
    assert fields(gateway, response) == {"If-Match"}


async def test_a_cart_version_out_of_range_is_400(gateway: Client) -> None:
    headers = {**await gateway.auth(), "Idempotency-Key": gateway.unique("checkout-key")}
    body = {"payment_method": "pm_1", "cart_version": 2**64, "fulfillment": {"method": "pickup", "store_id": "s"}}
    response = await gateway.http.post("/v1/checkout", json=body, headers=headers)
    assert "cart_version" in fields(gateway, response)


@pytest.mark.parametrize("path", ["/v1/products", "/v1/orders", "/v1/approvals", "/v1/reviews"])
async def test_page_sizes_out_of_range_are_400(gateway: Client, path: str) -> None:
    role = {"/v1/approvals": "b2b_approver", "/v1/reviews": "fraud_analyst"}.get(path, "customer")
    headers = await gateway.auth(role, account_id="acme" if role.startswith("b2b") else "")
    for size in (2**31, 2**64, -1):
        response = await gateway.http.get(path, params={"page_size": size}, headers=headers)
        assert fields(gateway, response) == {"page_size"}, (path, size)


async def test_admin_numbers_out_of_range_are_400_and_change_nothing(gateway: Client) -> None:
    admin = await gateway.auth("admin")
    seeded = await gateway.seed_product(prices=(100,), stock=(3,))
    sku, warehouse = seeded.skus[0], gateway.backends.locations[0]
    price = {"prices": [{"sku": sku, "price": {"amount": 2**63, "currency": "USD"}}]}
    response = await gateway.http.put("/v1/prices", json=price, headers=admin)
    assert fields(gateway, response) == {"prices[0].price.amount"}
    stock = {"entries": [{"sku": sku, "location_id": warehouse, "on_hand": 2**63}]}
    response = await gateway.http.put("/v1/stock", json=stock, headers=admin)
    assert fields(gateway, response) == {"entries[0].on_hand"}
    levels = await gateway.http.get("/v1/stock", params={"sku": sku}, headers=admin)
    assert [row["on_hand"] for row in levels.json()["stock"]] == [3]
    product = (await gateway.http.get(f"/v1/products/{seeded.product_id}")).json()
    assert product["variants"][0]["price"]["amount"] == 100


@pytest.mark.parametrize("method", ["AddCartItem", "UpdateCartItem"])
async def test_grpc_quantities_out_of_range_are_invalid_argument(gateway: Client, method: str) -> None:
    metadata = (("authorization", (await gateway.auth())["Authorization"]),)
    request_type = getattr(storefront_pb2, f"{method}Request")
    for quantity in (2**62, 2**63 - 1, -(2**63)):
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await getattr(gateway.grpc, method)(request_type(sku="A-1", quantity=quantity), metadata=metadata)
        error = parse_rpc_error(failed.value)
        assert error.code is grpc.StatusCode.INVALID_ARGUMENT, (method, quantity, error)
        assert [v.field for v in error.violations] == ["quantity"]
