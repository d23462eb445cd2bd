"""The OpenAPI document of the HTTP API: what FastAPI derives from the routes, plus what it cannot
know. Clients and the HTTP fuzz suite (tests/system/test_system_http_fuzz.py) hold the gateway to it:

- operationIds are the route functions' names (`place_order`), part of the contract: generated
  clients name their methods after them;
- errors are application/problem+json (`Problem`), with the headers that come with some of them
  (WWW-Authenticate on 401, Retry-After on 429 and on a 503 of an outage);
- the headers of successful answers: the cart's ETag (send it back as If-Match), a checkout's
  Location;
- links from an answer to the operations that take its ids (OpenAPI 3.1 `links`), so that a client
  or a stateful test can follow cart -> checkout -> order.
"""

from __future__ import annotations

from typing import Any

PROBLEM_JSON = "application/problem+json"

RETRY_AFTER_SECONDS = {"type": "string", "pattern": "^[0-9]+$"}
RETRY_AFTER = {"description": "seconds to wait before retrying", "required": True, "schema": RETRY_AFTER_SECONDS}
WWW_AUTHENTICATE = {"description": "the Bearer scheme (and the error of a token that was refused)", "required": True}
ETAG = {
    "description": "the cart's version (absent while the caller has no cart): send it as If-Match to change only it",
    "schema": {"type": "string", "pattern": '^"[0-9]+"$'},
}
LOCATION = {"description": "the checkout: GET it to follow the order", "required": True, "schema": {"type": "string"}}

# Error answers with a header of their own, on top of the 4XX/5XX every /v1 route documents.
ERROR_HEADERS: dict[str, dict[str, Any]] = {
    "401": {"WWW-Authenticate": {**WWW_AUTHENTICATE, "schema": {"type": "string"}}},
    "429": {"Retry-After": RETRY_AFTER},
    "503": {"Retry-After": {**RETRY_AFTER, "required": False, "description": "when a retry may succeed"}},
}
ERROR_DESCRIPTIONS = {
    "401": "no token, or a token that failed to verify (problem+json)",
    "429": "the client's rate limit is spent (problem+json)",
    "503": "a service stayed unavailable; with Retry-After when retrying may succeed (problem+json)",
}
CART_OPERATIONS = (
    "get_cart",
    "add_cart_item",
    "update_cart_item",
    "remove_cart_item",
    "apply_coupon",
    "remove_coupon",
)

_CART_LINE = {"sku": "$request.body#/sku", "header.If-Match": "$response.header.ETag"}
# operationId -> status -> link name -> link (OpenAPI links).
LINKS: dict[str, dict[str, dict[str, dict[str, Any]]]] = {
    "add_cart_item": {
        "200": {
            "SetQuantity": {"operationId": "update_cart_item", "parameters": _CART_LINE},
            "RemoveLine": {"operationId": "remove_cart_item", "parameters": _CART_LINE},
            "PlaceOrder": {"operationId": "place_order", "requestBody": {"cart_version": "$response.body#/version"}},
        }
    },
    "get_cart": {
        "200": {
            "PlaceOrder": {"operationId": "place_order", "requestBody": {"cart_version": "$response.body#/version"}},
        }
    },
    "place_order": {
        status: {
            "GetCheckout": {
                "operationId": "get_checkout",
                "parameters": {"checkout_id": "$response.body#/checkout_id"},
            },
            "GetOrder": {"operationId": "get_order", "parameters": {"order_id": "$response.body#/order_id"}},
            "CancelOrder": {"operationId": "cancel_order", "parameters": {"order_id": "$response.body#/order_id"}},
        }
        for status in ("201", "202")
    },
    "get_checkout": {
        "200": {"GetOrder": {"operationId": "get_order", "parameters": {"order_id": "$response.body#/order_id"}}}
    },
    "create_product": {
        "201": {
            "GetProduct": {"operationId": "get_product", "parameters": {"product_id": "$response.body#/id"}},
            "Discontinue": {"operationId": "discontinue_product", "parameters": {"product_id": "$response.body#/id"}},
        }
    },
}
# Parameters the application requires with a reason of its own (IDEMPOTENCY_KEY_REQUIRED), so the
# route declares them optional.
REQUIRED_PARAMETERS = {
    ("place_order", "Idempotency-Key"),
    *((operation, "Idempotency-Key") for operation in ("fulfil_order", "refund_order", "restock", "adjust_stock")),
}
SUCCESS_HEADERS: dict[str, dict[str, dict[str, Any]]] = {
    **{operation: {"200": {"ETag": ETAG}} for operation in CART_OPERATIONS},
    "place_order": {"201": {"Location": LOCATION}, "202": {"Location": LOCATION}},
}


def describe(operation: dict[str, Any]) -> None:
    """What FastAPI's document does not say of an operation: problem+json errors, headers, links."""
    for parameter in operation.get("parameters", ()):
        if (operation.get("operationId"), parameter["name"]) in REQUIRED_PARAMETERS:
            parameter["required"] = True
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for code, answer in responses.items():
        content = answer.get("content", {})
        if code[0] in "45" and "application/json" in content:
            content[PROBLEM_JSON] = content.pop("application/json")
    generic = responses.get("4XX")
    if generic is not None:  # a /v1 route: its errors with headers are spelled out
        for code, headers in ERROR_HEADERS.items():
            answer = responses.setdefault(
                code, {"description": ERROR_DESCRIPTIONS[code], "content": generic["content"]}
            )
            answer.setdefault("headers", {}).update(headers)
    name = operation.get("operationId", "")
    for code, headers in SUCCESS_HEADERS.get(name, {}).items():
        responses[code].setdefault("headers", {}).update(headers)
    for code, links in LINKS.get(name, {}).items():
        responses[code].setdefault("links", {}).update(links)
