"""Inbound ERP feeds through the launched stack's gateway: a CSV stock feed sent twice under one feed id
has one effect (the levels read back, the SKU's stock version — the count of its StockLevelChanged
events — moves once per change), and a JSONL price feed changes the price a shopper's cart is quoted."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc

if TYPE_CHECKING:  # conftest is not importable at run time (pytest's importlib mode); its types are for mypy
    from conftest import Backstage, NewShopper

    from shop_devstack.harness import Stack

pytestmark = [
    pytest.mark.skipif(os.environ.get("SHOP_SKIP_LAUNCHER_TEST") == "1", reason="SHOP_SKIP_LAUNCHER_TEST=1 was set"),
    pytest.mark.timeout(600),
]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def admin(stack: Stack, http: httpx.Client) -> dict[str, str]:
    issued = http.post(f"{stack.gateway_url}/v1/auth/token", json={"username": unique("erp"), "role": "admin"})
    assert issued.status_code == 200, issued.text
    return {"authorization": f"Bearer {issued.json()['access_token']}"}


@pytest.fixture
def totals(stack: Stack) -> Iterator[inventory_pb2_grpc.InventoryServiceStub]:
    """Inventory as the catalog reads it: ListStockTotals carries each SKU's stock version."""
    channel = stack.service_channel("inventory", identity="catalog")
    yield inventory_pb2_grpc.InventoryServiceStub(channel)
    channel.close()


def stock_version(stub: inventory_pb2_grpc.InventoryServiceStub, sku: str) -> int:
    token = ""
    while True:
        request = inventory_pb2.ListStockTotalsRequest()
        request.page.page_size, request.page.page_token = 500, token
        page = stub.ListStockTotals(request, timeout=10)
        for total in page.totals:
            if total.sku == sku:
                return int(total.stock_version)
        token = page.page.next_page_token
        if not token:
            return 0


def send(stack: Stack, http: httpx.Client, path: str, body: str, headers: dict[str, str]) -> dict[str, Any]:
    """POST a feed and wait for it to finish."""
    started = http.post(f"{stack.gateway_url}{path}", content=body, headers=headers)
    assert started.status_code == 202, started.text
    location = f"{stack.gateway_url}{started.headers['location']}"
    deadline = time.monotonic() + 60
    while (progress := http.get(location, headers=headers).json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, progress
        time.sleep(0.2)
    found: dict[str, Any] = {**progress, "location": started.headers["location"]}
    return found


def test_an_erp_stock_feed_applied_twice_has_one_effect(
    stack: Stack, http: httpx.Client, admin: dict[str, str], backstage: Backstage, totals: Any
) -> None:
    locations = http.get(f"{stack.gateway_url}/v1/admin/locations", params={"country": "US"}, headers=admin)
    warehouse, other = [loc["location_id"] for loc in locations.json()["locations"]][:2]
    sku = unique("ERP").upper()
    body = f"sku,location_id,on_hand\n{sku},{warehouse},30\n{sku},{other},12\n{sku},nowhere,1\n"
    headers = {**admin, "content-type": "text/csv", "Feed-Id": unique("erp-stock")}
    first = send(stack, http, "/v1/admin/stock-feeds", body, headers)
    assert (first["status"], first["applied"], first["failed"]) == ("done", 2, 1), first
    levels = backstage.stock(sku)
    assert (levels[warehouse], levels[other]) == (30, 12)
    assert stock_version(totals, sku) == 2  # one StockLevelChanged per changed level

    again = send(stack, http, "/v1/admin/stock-feeds", body, headers)
    assert again["location"] == first["location"] and again["applied"] == 2, again
    levels = backstage.stock(sku)
    assert (levels[warehouse], levels[other]) == (30, 12)
    assert stock_version(totals, sku) == 2

    report = http.get(f"{stack.gateway_url}{first['location']}/lines", params={"failed_only": "true"}, headers=admin)
    assert [(r["line"], r["key"]) for r in report.json()["lines"]] == [(4, f"{sku}@nowhere")], report.text
    conflict = http.post(
        f"{stack.gateway_url}/v1/admin/stock-feeds", content=body + f"{sku},{other},13\n", headers=headers
    )
    assert conflict.status_code == 409, conflict.text


def test_a_price_feed_changes_the_price_a_cart_is_quoted(
    stack: Stack, http: httpx.Client, admin: dict[str, str], new_shopper: NewShopper
) -> None:
    category = unique("erp")
    made = http.post(f"{stack.gateway_url}/v1/categories", json={"slug": category, "name": "ERP"}, headers=admin)
    assert made.status_code == 201, made.text
    sku = unique("ERPP").upper()
    product = {"name": unique("ERP item"), "category": category, "variants": [{"sku": sku}]}
    created = http.post(f"{stack.gateway_url}/v1/products", json=product, headers=admin)
    assert created.status_code == 201, created.text
    warehouses = http.get(f"{stack.gateway_url}/v1/admin/locations", params={"type": "warehouse"}, headers=admin)
    warehouse = warehouses.json()["locations"][0]["location_id"]
    stock = f'{{"sku": "{sku}", "location_id": "{warehouse}", "on_hand": 10}}\n'
    jsonl = {**admin, "content-type": "application/x-ndjson"}
    assert send(stack, http, "/v1/admin/stock-feeds", stock, {**jsonl, "Feed-Id": unique("s")})["applied"] == 1

    shopper = new_shopper("erp-prices")
    for amount in (1250, 990):
        price = f'{{"sku": "{sku}", "currency": "USD", "amount": {amount}}}\n'
        done = send(stack, http, f"/v1/admin/price-feeds?feed_id={unique('p')}", price, jsonl)
        assert (done["status"], done["applied"]) == ("done", 1), done
        cart = shopper.add_to_cart(sku, 1)
        line = next(line for line in cart["lines"] if line["sku"] == sku)
        assert line["unit_price"] == {"amount": amount, "currency": "USD"}, cart
