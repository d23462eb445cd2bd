"""The sandbox's OpenAPI document: FastAPI's, plus what it cannot derive from the routes. The HTTP
fuzz suite (tests/system/test_system_http_fuzz.py) holds the sandbox to it.

- operationIds are the route functions' names (`create_authorization`), part of the contract;
- errors are application/problem+json (`shopkit.problems.Problem`, the gateway's shape too); the
  size limits (413, 431) and an unknown route's 405 can answer any operation;
- the provider's two faces (callers.py), as OpenAPI 3.1 security: a `mutualTLS` scheme required by
  default (the server face: 401 without a certificate, 403 for a name not allowed), and
  `security: []` on the public face (tokenising a card, the probes);
- an idempotent replay carries `Idempotent-Replayed: true`;
- links from an answer to the operations that take its ids: tokenise a card, authorise it, then
  read, capture, void and refund the authorization.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from shop_sandbox import callers
from shop_sandbox.errors import ClientCertificateRequired
from shop_sandbox.idempotency import REPLAYED_HEADER
from shopkit import openapi
from shopkit.problems import PROBLEM_JSON

ANY_OPERATION_ERRORS = {
    "413": "the body is larger than MAX_REQUEST_BODY_BYTES (problem+json)",
    "431": "the request line and headers are larger than MAX_REQUEST_HEADER_BYTES (problem+json)",
}
PROBLEM = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
SCHEME = "clientCertificate"
SECURITY_SCHEME = {
    "type": "mutualTLS",
    "description": "When the sandbox serves HTTPS (TLS files set): a client certificate of the shop's CA, whose "
    "Common Name is the caller. The server face (the default) admits checkout, order and tooling; the public face "
    "(operations with `security: []`) needs none. Without TLS (loopback only) nothing is checked.",
}
CERTIFICATE_REQUIRED = {
    "description": "with mutual TLS: no client certificate (client_certificate_required)",
    "headers": {
        "WWW-Authenticate": {
            "description": f"the challenge: {ClientCertificateRequired.headers['WWW-Authenticate']}",
            "schema": {"type": "string"},
        }
    },
    "content": PROBLEM,
}
CALLER_ERROR = {
    "description": "with mutual TLS: the client certificate's name may not call the server face (caller_not_allowed)",
    "content": PROBLEM,
}
PUBLIC_FACE = "Public face: needs no client certificate."
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


def install(app: FastAPI) -> None:
    """Serve FastAPI's document with every operation described, and each marked with its face."""
    openapi.describe_operations(app, describe)
    described = app.openapi

    def build() -> dict[str, Any]:
        document = described()  # built once, then the same object
        schemes = document.setdefault("components", {}).setdefault("securitySchemes", {})
        if SCHEME not in schemes:
            schemes[SCHEME] = SECURITY_SCHEME
            document["security"] = [{SCHEME: []}]  # fail-closed: a certificate unless an operation says otherwise
            for path, operations in document.get("paths", {}).items():
                for method, operation in operations.items():
                    describe_face(operation, callers.face(method.upper(), path))
        return document

    app.openapi = build  # type: ignore[method-assign]


def describe_face(operation: dict[str, Any], face: callers.Face) -> None:
    """Who may call the operation: `security: []` on the public face, else a certificate (401, 403)."""
    if face is callers.Face.PUBLIC:
        operation["security"] = []
        operation["description"] = "\n\n".join(filter(None, [operation.get("description"), PUBLIC_FACE]))
        return
    operation["security"] = [{SCHEME: []}]
    responses: dict[str, Any] = operation.setdefault("responses", {})
    responses.setdefault("401", CERTIFICATE_REQUIRED)
    if face is callers.Face.SERVER:
        responses.setdefault("403", CALLER_ERROR)


def describe(operation: dict[str, Any]) -> None:
    """What FastAPI's document does not say of an operation: problem+json errors, replay headers, links."""
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for code, description in ANY_OPERATION_ERRORS.items():
        responses.setdefault(code, {"description": description, "content": PROBLEM})
    name = operation.get("operationId", "")
    if operation.get("requestBody") is not None or name.startswith(("capture", "void")):
        for code, answer in responses.items():
            if code.startswith("2"):
                answer.setdefault("headers", {})[REPLAYED_HEADER] = REPLAYED
    for code, links in LINKS.get(name, {}).items():
        responses[code].setdefault("links", {}).update(links)
