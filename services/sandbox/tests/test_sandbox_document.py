"""The sandbox's OpenAPI document and its errors: stable operationIds, links from a card to its
authorizations, and every error in the one problem+json shape of the shop's HTTP processes (also a
body that is not even text, which is bad input like any other: 422 naming the body)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
