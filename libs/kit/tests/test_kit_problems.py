"""shopkit.problems: field paths, and the handlers a FastAPI app installs, over a real ASGI app."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from shopkit import problems
from shopkit.errors import FieldViolation
from shopkit.problems import PROBLEM_JSON, ProblemResponse


class Card(BaseModel):
    number: str
    cvc: str


class Order(BaseModel):
    lines: list[int]
    card: Card


class Refused(Exception):
    pass


def app() -> FastAPI:
    api = FastAPI()

    @api.post("/orders")
    async def create(order: Order) -> dict[str, int]:
        return {"lines": len(order.lines)}

    @api.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaputt")

    @api.get("/refused")
    async def refused() -> None:
        raise Refused("no")

    def invalid(_: Request, violations: list[FieldViolation]) -> Response:
        errors = [{"field": v.field, "message": v.description} for v in violations]
        body = problems.problem_document(400, "invalid", problems.violations_detail(violations), errors=errors)
        return ProblemResponse(body, status_code=400)

    def http_error(_: Request, error: HTTPException) -> Response:
        code = problems.status_name(error.status_code)
        return ProblemResponse(problems.problem_document(error.status_code, code, str(error.detail)), error.status_code)

    def unexpected(_: Request, error: Exception) -> Response:
        return ProblemResponse(problems.problem_document(500, "internal", "try again"), status_code=500)

    problems.install(api, invalid_request=invalid, http_error=http_error, unexpected=unexpected)
    problems.handle(api, Refused, lambda _, e: ProblemResponse(problems.problem_document(409, "refused", str(e)), 409))
    return api


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.mark.parametrize(
    ("location", "path"),
    [
        (("body", "card", "cvc"), "card.cvc"),
        (("body", "lines", 0), "lines[0]"),
        (("query", "page_size"), "page_size"),
        (("header", "idempotency-key"), "idempotency-key"),
        (("body",), "body"),
        ((), "body"),
    ],
)
def test_field_paths(location: tuple[int | str, ...], path: str) -> None:
    assert problems.field_path(location) == path


def test_documents_default_the_title_to_the_status_phrase() -> None:
    assert problems.problem_document(404, "NOT_FOUND", "no such order", instance="/o/1") == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "no such order",
        "code": "NOT_FOUND",
        "instance": "/o/1",
    }
    assert (problems.status_phrase(499), problems.status_name(499)) == ("Error", "HTTP_ERROR")


async def test_invalid_requests_name_every_field_and_never_echo_the_input(client: httpx.AsyncClient) -> None:
    response = await client.post("/orders", json={"lines": ["x"], "card": {"number": "4242424242424242"}})
    assert (response.status_code, response.headers["content-type"]) == (400, PROBLEM_JSON)
    body = response.json()
    assert [e["field"] for e in body["errors"]] == ["lines[0]", "card.cvc"]
    assert body["detail"].startswith("lines[0]: ") and "4242" not in response.text
    broken = await client.post("/orders", content=b"{", headers={"content-type": "application/json"})
    assert [e["field"] for e in broken.json()["errors"]] == ["body"]


async def test_http_errors_own_errors_and_unexpected_ones(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    missing = await client.get("/nowhere")
    assert (missing.status_code, missing.json()["code"]) == (404, "NOT_FOUND")
    wrong = await client.delete("/orders")
    assert (wrong.status_code, wrong.json()["code"]) == (405, "METHOD_NOT_ALLOWED")
    refused = await client.get("/refused")
    assert (refused.status_code, refused.json()["code"], refused.json()["detail"]) == (409, "refused", "no")
    with caplog.at_level(logging.ERROR, logger="shopkit.problems"):
        boom = await client.get("/boom")
    assert (boom.status_code, boom.headers["content-type"], boom.json()["code"]) == (500, PROBLEM_JSON, "internal")
    assert "kaputt" not in boom.text
    assert any(record.exc_info and "GET /boom" in record.getMessage() for record in caplog.records)
