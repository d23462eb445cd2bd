"""The sandbox's OpenAPI document and its errors: stable operationIds, links from a card to its
authorizations, and every error in the one problem+json shape of the shop's HTTP processes (also a
body that is not even text, which is bad input like any other: 422 naming the body), and which
operations are the provider's public face (no client certificate) and which its server face."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from shop_sandbox import callers

if TYPE_CHECKING:
    from conftest import Sandbox

PROBLEM_MEMBERS = {"type", "title", "status", "detail", "code", "errors"}


async def _document(sandbox: Sandbox) -> dict[str, Any]:
    response = await sandbox.http.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


async def test_operation_ids_and_links(sandbox: Sandbox) -> None:
    paths = (await _document(sandbox))["paths"]
    tokenise = paths["/v1/payment_methods"]["post"]
    assert tokenise["operationId"] == "create_payment_method"
    assert tokenise["responses"]["201"]["links"]["Authorize"]["operationId"] == "create_authorization"
    authorise = paths["/v1/authorizations"]["post"]["responses"]["201"]
    assert {"GetAuthorization", "Capture", "Void", "Refund"} <= set(authorise["links"])
    assert "Idempotent-Replayed" in authorise["headers"]


async def test_the_problem_schema_is_the_shared_one(sandbox: Sandbox) -> None:
    problem = (await _document(sandbox))["components"]["schemas"]["Problem"]
    assert set(problem["required"]) >= PROBLEM_MEMBERS
    assert problem["properties"]["errors"]["items"] == {"$ref": "#/components/schemas/FieldError"}


async def test_a_body_that_is_not_text_is_a_validation_error_naming_the_body(sandbox: Sandbox) -> None:
    headers = {"content-type": "application/json"}
    response = await sandbox.http.post("/v1/refunds", content=b"\xff\xfe\x00{", headers=headers)
    assert (response.status_code, response.headers["content-type"]) == (422, "application/problem+json")
    body = response.json()
    assert (body["code"], [e["field"] for e in body["errors"]]) == ("validation_error", ["body"])


async def test_every_error_has_the_shared_members(sandbox: Sandbox) -> None:
    missing = await sandbox.http.get("/v1/authorizations/auth_nothing")
    unknown = await sandbox.http.get("/v1/nowhere")
    invalid = await sandbox.http.post("/v1/payment_methods", json={"card": {}})
    for response in (missing, unknown, invalid):
        assert response.headers["content-type"] == "application/problem+json"
        assert set(response.json()) >= PROBLEM_MEMBERS, response.text
    assert {e["field"] for e in invalid.json()["errors"]} >= {"card.number", "card.cvc"}
    assert all(set(e) == {"field", "description"} for e in invalid.json()["errors"])


async def test_the_document_says_which_face_each_operation_belongs_to(sandbox: Sandbox) -> None:
    """OpenAPI 3.1 security: a mutualTLS scheme required by default, `security: []` on the public face."""
    document = await _document(sandbox)
    assert document["components"]["securitySchemes"]["clientCertificate"]["type"] == "mutualTLS"
    assert document["security"] == [{"clientCertificate": []}]
    public = {(m.upper(), p) for p, ops in document["paths"].items() for m, op in ops.items() if op["security"] == []}
    assert public == {
        ("POST", "/v1/payment_methods"),
        ("POST", "/v1/authorizations/{authorization_id}/challenge"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
    }
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            if (method.upper(), path) in public:
                assert "needs no client certificate" in operation["description"]
                assert not {"401", "403"} & set(responses), (method, path)
                continue
            assert operation["security"] == [{"clientCertificate": []}], (method, path)
            assert "client_certificate_required" in responses["401"]["description"]
            assert "WWW-Authenticate" in responses["401"]["headers"]
            assert "caller_not_allowed" in responses["403"]["description"]
            for status in ("401", "403"):
                assert responses[status]["content"]["application/problem+json"]["schema"] == {
                    "$ref": "#/components/schemas/Problem"
                }


async def test_the_public_face_is_the_listed_routes_and_no_other(sandbox: Sandbox) -> None:
    """Every route listed public exists (a renamed route would fall to the server face), and no route of
    the server face has a path that the public list would match (fail-closed by construction)."""
    document = await _document(sandbox)
    operations = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    for method, path in callers.PUBLIC_ROUTES | callers.CERTIFICATE_ROUTES:
        if (method, path) in operations:
            continue
        # Not in the document: the API's documentation pages, /metrics, HEAD of the probes and pages.
        response = await sandbox.http.request(method, path)
        answers = {200, 405} if method == "HEAD" else {200}  # FastAPI's GET routes have no HEAD
        assert response.status_code in answers, (method, path, response.status_code)
    for method, path in operations:
        concrete = re.sub(r"\{[^}]+\}", "x_1", path)
        listed = (method, path) in callers.PUBLIC_ROUTES
        assert (callers.face(method, concrete) is callers.Face.PUBLIC) == listed, (method, path)
