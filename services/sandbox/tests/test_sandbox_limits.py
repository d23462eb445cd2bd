"""Size limits of the sandbox's requests: a body over the limit is 413 before it is parsed (by
Content-Length, and while a chunked body streams), headers over the limit are 431; nothing is stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from conftest import Sandbox, StartSandbox


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert (body["status"], body["code"]) == (status, code)
    return body


async def chunks(count: int, size: int) -> AsyncIterator[bytes]:
    yield b'{"card": {"number": "'
    for _ in range(count):
        yield b"4" * size


async def test_a_body_over_the_limit_is_413_and_stores_nothing(sandbox: Sandbox) -> None:
    limit = sandbox.service.settings.max_request_body_bytes
    assert limit == 1024 * 1024  # the default
    before = await sandbox.counts()
    card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"}
    body = {"card": card, "billing_country": "US" + " " * limit}
    response = await sandbox.http.post("/v1/payment_methods", json=body, headers={"Idempotency-Key": "too-large-1"})
    assert str(limit) in problem(response, 413, "request_too_large")["detail"]
    assert response.headers["connection"] == "close"
    assert await sandbox.counts() == before


async def test_a_chunked_body_is_cut_off_at_the_limit(start_sandbox: StartSandbox) -> None:
    async with start_sandbox(max_request_body_bytes=4096) as sandbox:
        before = await sandbox.counts()
        response = await sandbox.http.post(
            "/v1/payment_methods", content=chunks(16, 1024), headers={"Content-Type": "application/json"}
        )
        assert "content-length" not in response.request.headers
        problem(response, 413, "request_too_large")
        assert await sandbox.counts() == before
        await sandbox.tokenise()  # bodies within the limit work as before


async def test_headers_over_the_limit_are_431(start_sandbox: StartSandbox) -> None:
    async with start_sandbox(max_request_header_bytes=4096) as sandbox:
        assert (await sandbox.http.get("/healthz", headers={"X-Padding": "p" * 2048})).status_code == 200
        async with httpx.AsyncClient(base_url=sandbox.base_url) as fresh:
            response = await fresh.get("/healthz", headers={"X-Padding": "p" * 8192})
            problem(response, 431, "headers_too_large")
