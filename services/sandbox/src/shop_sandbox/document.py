"""The sandbox's OpenAPI document: FastAPI's, plus what it cannot derive from the routes. The HTTP
fuzz suite (tests/system/test_system_http_fuzz.py) holds the sandbox to it.

- operationIds are the route functions' names (`create_authorization`), part of the contract;
- errors are application/problem+json (`shopkit.problems.Problem`, the gateway's shape too); the
  size limits (413, 431) and an unknown route's 405 can answer any operation; with mutual TLS, 403
  answers a caller whose certificate may not call the API (callers.py);
- an idempotent replay carries `Idempotent-Replayed: true`;
- links from an answer to the operations that take its ids: tokenise a card, authorise it, then
  read, capture, void and refund the authorization.
"""

from __future__ import annotations

from typing import Any

from shop_sandbox.idempotency import REPLAYED_HEADER
from shopkit.problems import PROBLEM_JSON

ANY_OPERATION_ERRORS = {
    "413": "the body is larger than MAX_REQUEST_BODY_BYTES (problem+json)",
    "431": "the request line and headers are larger than MAX_REQUEST_HEADER_BYTES (problem+json)",
}
CALLER_ERROR = "with mutual TLS: the client certificate's name may not call the API (caller_not_allowed)"
REPLAYED = {"description": "true: the stored answer of an earlier request with the same Idempotency-Key"}

_AUTHORIZATION = {"authorization_id": "$response.body#/id"}
_AUTHORIZATION_LINKS = {
    "GetAuthorization": {"operationId": "get_authorization", "parameters": _AUTHORIZATION},
    "Capture": {"operationId": "capture_authorization", "parameters": _AUTHORIZATION},
    "Void": {"operationId": "void_authorization", "parameters": _AUTHORIZATION},
}
_REFUND = {"Refund": {"operationId": "create_refund", "requestBody": {"authorization": "$response.body#/id"}}}
# operationId -> status -> link name -> link (OpenAPI links).
LINKS: dict[str, dict[str, dict[str, dict[str, Any]]]] = {
    "create_payment_method": {
        "201": {
            "GetPaymentMethod": {
                "operationId": "get_payment_method",
                "parameters": {"payment_method_id": "$response.body#/id"},
            },
            "Authorize": {
                "operationId": "create_authorization",
                "requestBody": {"payment_method": "$response.body#/id"},
            },
        }
    },
    "create_authorization": {"201": {**_AUTHORIZATION_LINKS, **_REFUND}},
    "capture_authorization": {"200": {**_REFUND, "GetAuthorization": _AUTHORIZATION_LINKS["GetAuthorization"]}},
}


def describe(operation: dict[str, Any]) -> None:
    """What FastAPI's document does not say of an operation: problem+json errors, replay headers, links."""
    problem = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for code, description in ANY_OPERATION_ERRORS.items():
        responses.setdefault(code, {"description": description, "content": problem})
    if "probes" not in operation.get("tags", []):
        responses.setdefault("403", {"description": CALLER_ERROR, "content": problem})
    name = operation.get("operationId", "")
    if operation.get("requestBody") is not None or name.startswith(("capture", "void")):
        for code, answer in responses.items():
            if code.startswith("2"):
                answer.setdefault("headers", {})[REPLAYED_HEADER] = REPLAYED
    for code, links in LINKS.get(name, {}).items():
        responses[code].setdefault("links", {}).update(links)
