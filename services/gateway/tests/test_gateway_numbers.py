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
# The storefront's lists check these with their other parameters, so that one 400 names them all
# (test_page_sizes_out_of_range_are_400, test_prices_out_of_range_are_400).
CHECKED_BY_THE_USE_CASE = {
    *(f"GET {path} page_size" for path in ("/v1/products", "/v1/orders", "/v1/approvals", "/v1/reviews")),
    "GET /v1/products min_price",
    "GET /v1/products max_price",
}


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


@pytest.mark.parametrize("name", ["min_price", "max_price"])
async def test_prices_out_of_range_are_400(gateway: Client, name: str) -> None:
    for value in (2**63, -1):
        response = await gateway.http.get("/v1/products", params={name: value})
        assert fields(gateway, response) == {name}, (name, value)


async def test_times_before_year_one_in_utc_are_400(gateway: Client) -> None:
    """Valid RFC 3339, but a day before 0001-01-01 in UTC: no protobuf Timestamp holds it."""
    early = "0001-01-01T00:00:00+23:59"
    admin = await gateway.auth("admin")
    offer = {"version": 1, "lines": [], "expires_at": early}
    response = await gateway.http.post("/v1/admin/quotes/q-1/offers", json=offer, headers=admin)
    assert fields(gateway, response) == {"expires_at"}
    for name in ("created_after", "created_before"):
        response = await gateway.http.get("/v1/admin/orders", params={name: early}, headers=admin)
        assert fields(gateway, response) == {name}
    for version in (2**31, 2**63):
        offer = {"version": version, "lines": [], "expires_at": "2030-01-01T00:00:00Z"}
        response = await gateway.http.post("/v1/admin/quotes/q-1/offers", json=offer, headers=admin)
        assert fields(gateway, response) == {"version"}


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


def _unbounded_integers(document: dict[str, Any]) -> set[str]:
    """Every integer a request may carry (body, path, query, header) without a minimum and a maximum:
    one beyond the protobuf field it lands in is a ValueError in the gateway, not a 400."""
    schemas = document["components"]["schemas"]
    found: set[str] = set()
    seen: set[str] = set()

    def walk(schema: dict[str, Any], where: str) -> None:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            if name not in seen:
                seen.add(name)
                walk(schemas[name], name)
            return
        if schema.get("type") == "integer" and ("maximum" not in schema or "minimum" not in schema):
            found.add(where)
        for key in ("anyOf", "oneOf", "allOf"):
            for option in schema.get(key, []):
                walk(option, where)
        if "items" in schema:
            walk(schema["items"], f"{where}[]")
        for name, prop in schema.get("properties", {}).items():
            walk(prop, f"{where}.{name}")

    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                walk(parameter["schema"], f"{method.upper()} {path} {parameter['name']}")
            for content in operation.get("requestBody", {}).get("content", {}).values():
                walk(content["schema"], f"{method.upper()} {path} body")
    return found


async def test_every_integer_a_request_carries_is_bounded_in_the_document(gateway: Client) -> None:
    """A new field without bounds fails here before the fuzz finds its 500."""
    document = (await gateway.http.get("/openapi.json")).json()
    unbounded = _unbounded_integers(document) - CHECKED_BY_THE_USE_CASE
    assert not unbounded, "\n".join(sorted(unbounded))
