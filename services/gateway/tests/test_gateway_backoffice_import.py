"""Bulk product import through the gateway against the REAL catalog: a JSONL upload streamed past the
request-body limit, its progress to done, the report of every line (ok, blank, failed with its field
errors), the products searchable after; the same upload again changes nothing, and under the same
Idempotency-Key is the same import; the list of imports; bounds (413), an empty upload (400) and
customers (403) refused before anything is read. The catalog owns the imports (its worker applies them)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import Client, GatewayFactory

JSONL = {"content-type": "application/x-ndjson"}


@pytest.fixture(scope="module")
async def small_body(make_gateway: GatewayFactory) -> AsyncIterator[Client]:
    """A gateway whose request bodies are at most 4 KiB, whose imports at most 64 KiB and 300 lines."""
    async with make_gateway(max_request_body_bytes=4096, import_max_bytes=64 * 1024, import_max_lines=300) as client:
        yield client


def product(slug: str, category: str, sku: str, **fields: Any) -> str:
    line: dict[str, Any] = {"slug": slug, "name": slug.title(), "category_slug": category}
    line |= {"status": "PRODUCT_STATUS_ACTIVE", "channels": ["CHANNEL_WEB"], "variants": [{"sku": sku}]}
    return json.dumps({**line, **fields})


async def finished(client: Client, location: str, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        response = await client.http.get(location, headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] not in ("queued", "running"):
            return body
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.1)


async def test_an_upload_larger_than_a_request_body_imports_with_a_report_per_line(small_body: Client) -> None:
    client = small_body
    admin = await client.auth("admin")
    category = client.unique("imp")
    made = await client.http.post("/v1/categories", json={"slug": category, "name": "Imported"}, headers=admin)
    assert made.status_code == 201, made.text
    tag = client.unique("bulk")
    good = [product(f"{tag}-{i}", category, f"{tag}-SKU-{i}".upper()) for i in range(250)]
    lines = [*good[:3], "", "{not json", product(f"{tag}-bad", "no-such-category", f"{tag}-X".upper()), *good[3:]]
    upload = "\n".join(lines).encode()
    assert len(upload) > 4096

    response = await client.http.post("/v1/admin/product-imports", content=upload, headers={**admin, **JSONL})
    assert response.status_code == 202, response.text
    assert response.json()["lines_total"] == len(lines)
    done = await finished(client, response.headers["location"], admin)
    assert (done["status"], done["lines_done"], done["created"], done["failed"]) == ("done", len(lines), 250, 2)

    report = await client.http.get(f"{response.headers['location']}/lines", params={"page_size": 6}, headers=admin)
    page = report.json()
    assert [(r["line"], r["status"]) for r in page["lines"]] == [
        (1, "ok"),
        (2, "ok"),
        (3, "ok"),
        (4, "blank"),
        (5, "failed"),
        (6, "failed"),
    ]
    assert page["lines"][5]["slug"] == f"{tag}-bad"
    assert [e["field"] for e in page["lines"][5]["errors"]] == ["category_slug"]
    seen = len(page["lines"])
    token = page["next_page_token"]
    while token:
        params = {"page_size": 100, "page_token": token}
        page = (await client.http.get(f"{response.headers['location']}/lines", params=params, headers=admin)).json()
        assert all(r["status"] == "ok" for r in page["lines"])
        seen += len(page["lines"])
        token = page["next_page_token"]
    assert seen == len(lines)
    failed = await client.http.get(
        f"{response.headers['location']}/lines", params={"failed_only": "true"}, headers=admin
    )
    assert [r["line"] for r in failed.json()["lines"]] == [5, 6]

    found = await client.http.get("/v1/products", params={"category": category, "page_size": 100})
    assert len(found.json()["products"]) == 100 and found.json()["next_page_token"]

    again = await client.http.post("/v1/admin/product-imports", content=upload, headers={**admin, **JSONL})
    repeat = await finished(client, again.headers["location"], admin)
    assert (repeat["created"], repeat["updated"], repeat["unchanged"], repeat["failed"]) == (0, 0, 250, 2)

    keyed = {**admin, **JSONL, "Idempotency-Key": client.unique("import-key")}
    first = await client.http.post("/v1/admin/product-imports", content=upload, headers=keyed)
    same = await client.http.post("/v1/admin/product-imports", content=upload, headers=keyed)
    assert first.status_code == same.status_code == 202, same.text
    assert same.headers["location"] == first.headers["location"]
    other = await client.http.post("/v1/admin/product-imports", content=upload[:100], headers=keyed)
    client.problem(other, 409, "REQUEST_ID_REUSED")
    listed = await client.http.get("/v1/admin/product-imports", params={"page_size": 100}, headers=admin)
    assert listed.status_code == 200, listed.text
    ids = [item["import_id"] for item in listed.json()["imports"]]
    assert first.json()["import_id"] in ids and again.json()["import_id"] in ids
    assert ids.index(first.json()["import_id"]) < ids.index(again.json()["import_id"])  # newest first


async def test_bounds_and_roles_are_checked(small_body: Client) -> None:
    client = small_body
    admin = await client.auth("admin")
    too_big = b"x" * (64 * 1024 + 1)
    response = await client.http.post("/v1/admin/product-imports", content=too_big, headers={**admin, **JSONL})
    client.problem(response, 413, "UPLOAD_TOO_LARGE")
    far_too_big = b"x" * (200 * 1024)  # refused from its Content-Length, unread
    response = await client.http.post("/v1/admin/product-imports", content=far_too_big, headers={**admin, **JSONL})
    client.problem(response, 413, "UPLOAD_TOO_LARGE")

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: refused while it streams
        for _ in range(10):
            yield b"y" * 10_000 + b"\n"

    response = await client.http.post("/v1/admin/product-imports", content=chunked(), headers={**admin, **JSONL})
    client.problem(response, 413, "UPLOAD_TOO_LARGE")
    too_many = b"\n" * 400
    response = await client.http.post("/v1/admin/product-imports", content=too_many, headers={**admin, **JSONL})
    client.problem(response, 413, "UPLOAD_TOO_LARGE")
    empty = await client.http.post("/v1/admin/product-imports", content=b"\n\n", headers={**admin, **JSONL})
    assert [e["field"] for e in client.problem(empty, 400, "INVALID_ARGUMENT")["errors"]] == ["body"]
    unknown = await client.http.get("/v1/admin/product-imports/no-such-import", headers=admin)
    client.problem(unknown, 404, "NOT_FOUND")

    customer = await client.auth("customer")
    refused = await client.http.post("/v1/admin/product-imports", content=b"{}", headers={**customer, **JSONL})
    client.problem(refused, 403, "ROLE_REQUIRED")
    client.problem(await client.http.post("/v1/admin/product-imports", content=b"{}"), 401, "TOKEN_REQUIRED")
    client.problem(await client.http.get("/v1/admin/product-imports/x", headers=customer), 403, "ROLE_REQUIRED")
    client.problem(await client.http.get("/v1/admin/product-imports", headers=customer), 403, "ROLE_REQUIRED")
    other_routes = await client.http.post("/v1/cart/items", content=b"x" * 5000, headers={**customer, **JSONL})
    assert other_routes.status_code == 413  # the request-body limit still holds everywhere else
