"""The OpenAPI document tells the truth the HTTP fuzz suite holds the gateway to: stable operationIds,
202 on checkout, the required Idempotency-Key, the cart's ETag, Retry-After and the one problem+json
shape; and the gateway answers as it says."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conftest import Client


async def _document(gateway: Client) -> dict[str, Any]:
    response = await gateway.http.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


async def test_operation_ids_are_the_route_names(gateway: Client) -> None:
    paths = (await _document(gateway))["paths"]
    ids = {f"{method.upper()} {path}": op["operationId"] for path, ops in paths.items() for method, op in ops.items()}
    assert ids["POST /v1/checkout"] == "place_order"
    assert ids["GET /v1/cart"] == "get_cart"
    assert ids["PATCH /v1/cart/items/{sku}"] == "update_cart_item"
    assert len(set(ids.values())) == len(ids)


async def test_checkout_documents_202_its_location_and_a_required_idempotency_key(gateway: Client) -> None:
    checkout = (await _document(gateway))["paths"]["/v1/checkout"]["post"]
    [key] = [p for p in checkout["parameters"] if p["name"] == "Idempotency-Key"]
    assert key["required"] is True
    for status in ("201", "202"):
        answer = checkout["responses"][status]
        assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/PlaceOrderResult"}
        assert answer["headers"]["Location"]["required"] is True
        assert answer["links"]["GetCheckout"]["operationId"] == "get_checkout"


async def test_checkout_answers_document_the_customers_next_action(gateway: Client) -> None:
    schemas = (await _document(gateway))["components"]["schemas"]
    for name in ("PlaceOrderResult", "Checkout"):
        assert "next_action" in schemas[name]["properties"], name
    assert set(schemas["NextAction"]["required"]) == {"type", "url", "client_secret", "expires_at"}


async def test_cart_etag_retry_after_and_problems_are_documented(gateway: Client) -> None:
    document = await _document(gateway)
    add = document["paths"]["/v1/cart/items"]["post"]["responses"]
    assert "ETag" in add["200"]["headers"]
    assert add["200"]["links"]["SetQuantity"]["parameters"]["header.If-Match"] == "$response.header.ETag"
    assert add["429"]["headers"]["Retry-After"]["required"] is True
    assert "application/problem+json" in add["401"]["content"]
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "code", "errors"} <= set(problem["required"])


async def test_a_checkout_without_idempotency_key_is_400_as_documented(gateway: Client) -> None:
    headers = await gateway.auth()
    response = await gateway.http.post("/v1/checkout", json={"payment_method": "pm_x"}, headers=headers)
    body = gateway.problem(response, 400, "IDEMPOTENCY_KEY_REQUIRED")
    assert "Idempotency-Key" in body["errors"][0]["description"]


async def test_a_body_that_is_not_text_is_400_invalid_argument_naming_the_body(gateway: Client) -> None:
    headers = {**await gateway.auth(), "content-type": "application/json"}
    response = await gateway.http.post("/v1/cart/items", content=b"\xff\xfe\x00{", headers=headers)
    assert response.status_code == 400, response.text
    body = response.json()
    assert (body["code"], [e["field"] for e in body["errors"]]) == ("INVALID_ARGUMENT", ["body"])
