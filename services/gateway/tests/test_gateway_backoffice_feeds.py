"""Inbound ERP feeds through the gateway against the REAL inventory and pricing: a CSV stock feed and a
JSONL price feed, their progress to done, the report of every line (failed_only); the same Feed-Id again
is the same feed with one effect, another body under it 409; bounds (413), no feed id or no line (400),
customers (403) refused before anything is read."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest

from shop.inventory.v1 import inventory_pb2
from shopkit.auth import metadata_for

if TYPE_CHECKING:
    from conftest import Client, GatewayFactory

CSV = {"content-type": "text/csv"}
JSONL = {"content-type": "application/x-ndjson"}


@pytest.fixture(scope="module")
async def small(make_gateway: GatewayFactory) -> AsyncIterator[Client]:
    """A gateway whose feeds are at most 2 KiB and 20 lines."""
    async with make_gateway(feed_max_bytes=2048, feed_max_lines=20) as client:
        yield client


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


async def on_hand(client: Client, sku: str) -> dict[str, int]:
    request = inventory_pb2.GetStockLevelsRequest(skus=[sku])
    found = await client.backends.inventory.GetStockLevels(request, metadata=metadata_for("admin"))
    return {level.location_id: level.on_hand for level in found.stock}


async def test_a_csv_stock_feed_applies_once_with_a_report_per_line(small: Client) -> None:
    client = small
    admin = await client.auth("admin")
    warehouse, store = client.backends.locations
    sku = client.unique("feed").upper()
    upload = (
        f"sku,location_id,on_hand,mode,delta\n{sku},{warehouse},40,,\n\n{sku},{store},x,,\n{sku},{store},,adjust,5\n"
    )
    feed_id = client.unique("erp-stock")
    response = await client.http.post(
        "/v1/admin/stock-feeds", content=upload, headers={**admin, **CSV, "Feed-Id": feed_id}
    )
    assert response.status_code == 202, response.text
    location = response.headers["location"]
    done = await finished(client, location, admin)
    assert (done["status"], done["lines_total"], done["applied"], done["failed"]) == ("done", 5, 2, 1), done
    assert await on_hand(client, sku) == {warehouse: 40, store: 5}
    failed = (await client.http.get(f"{location}/lines", params={"failed_only": "true"}, headers=admin)).json()
    assert [(r["line"], r["key"], [e["field"] for e in r["errors"]]) for r in failed["lines"]] == [
        (4, f"{sku}@{store}", ["on_hand"])
    ]
    report = (await client.http.get(f"{location}/lines", headers=admin)).json()["lines"]
    assert [r["status"] for r in report] == ["skipped", "applied", "skipped", "failed", "applied"]

    again = await client.http.post(f"/v1/admin/stock-feeds?feed_id={feed_id}", content=upload, headers={**admin, **CSV})
    assert (again.status_code, again.headers["location"]) == (202, location), again.text
    await finished(client, location, admin)
    assert await on_hand(client, sku) == {warehouse: 40, store: 5}  # the adjust line did not run twice
    other = await client.http.post(
        "/v1/admin/stock-feeds", content=upload.replace("40", "41"), headers={**admin, **CSV, "Feed-Id": feed_id}
    )
    assert other.status_code == 409, other.text


async def test_a_jsonl_price_feed_sets_base_prices(small: Client) -> None:
    client = small
    admin = await client.auth("admin")
    sku = client.unique("pfeed").upper()
    lines = [json.dumps({"sku": sku, "currency": "USD", "amount": 1999}), json.dumps({"sku": sku, "amount": 1})]
    response = await client.http.post(
        "/v1/admin/price-feeds", content="\n".join(lines), headers={**admin, **JSONL, "Feed-Id": client.unique("erp-p")}
    )
    assert response.status_code == 202, response.text
    done = await finished(client, response.headers["location"], admin)
    assert (done["applied"], done["failed"]) == (1, 1), done
    failed = (await client.http.get(f"{response.headers['location']}/lines?failed_only=true", headers=admin)).json()
    assert [e["field"] for e in failed["lines"][0]["errors"]] == ["currency"]


async def test_bad_uploads_are_refused_before_anything_is_stored(small: Client) -> None:
    client = small
    admin = await client.auth("admin")
    body = "sku,location_id,on_hand\nA,wh,1\n"
    cases = [
        ({**admin, **CSV}, body, 400),  # no feed id
        ({**admin, **CSV, "Feed-Id": client.unique("f")}, "sku,location_id,on_hand\n\n", 400),  # no line
        ({**admin, **CSV, "Feed-Id": client.unique("f")}, body + "A,wh,1\n" * 30, 413),  # more than 20 lines
        ({**admin, **CSV, "Feed-Id": client.unique("f")}, "x" * 3000, 413),  # more than 2 KiB
        ({**await client.auth("customer"), **CSV, "Feed-Id": client.unique("f")}, body, 403),
    ]
    for headers, content, status in cases:
        for path in ("/v1/admin/stock-feeds", "/v1/admin/price-feeds"):
            response = await client.http.post(path, content=content, headers=headers)
            assert response.status_code == status, (path, response.text)
    missing = await client.http.get("/v1/admin/stock-feeds/00000000-0000-0000-0000-000000000000", headers=admin)
    assert missing.status_code == 404, missing.text
