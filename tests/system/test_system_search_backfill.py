"""The search projection's rebuild on the launched stack: a product whose price and stock catalog lost
(its projection rows deleted in catalog's own database, as a catalog that missed the events or was
deployed after them) is found by price and in stock again after POST /v1/admin/search-projection/rebuild,
which catalog runs by reading pricing and inventory over mTLS."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from shop_devstack.layout import Layout
from shop_devstack.status import psql_command

if TYPE_CHECKING:  # conftest is not importable at run time (pytest's importlib mode); its types are for mypy
    from shop_devstack.harness import Stack

pytestmark = [
    pytest.mark.skipif(os.environ.get("SHOP_SKIP_LAUNCHER_TEST") == "1", reason="SHOP_SKIP_LAUNCHER_TEST=1 was set"),
    pytest.mark.timeout(600),
]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def catalog_sql(stack: Stack, statement: str) -> str:
    """Run SQL in catalog's database as catalog's role (as `shop-dev psql catalog` does); its rows, unaligned."""
    command = psql_command(Layout(stack.data_dir), "catalog", ["-v", "ON_ERROR_STOP=1", "-At", "-c", statement])
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


def until(check: Any, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.2)


def test_a_rebuild_brings_back_prices_and_stock_catalog_lost(stack: Stack, http: httpx.Client) -> None:
    url = stack.gateway_url
    issued = http.post(f"{url}/v1/auth/token", json={"username": unique("ops"), "role": "admin"})
    assert issued.status_code == 200, issued.text
    admin = {"authorization": f"Bearer {issued.json()['access_token']}"}
    category = unique("lanterns")
    assert (
        http.post(f"{url}/v1/categories", json={"slug": category, "name": "Lanterns"}, headers=admin).status_code == 201
    )
    warehouses = http.get(f"{url}/v1/admin/locations", params={"type": "warehouse"}, headers=admin)
    warehouse = warehouses.json()["locations"][0]["location_id"]
    sku = unique("LANTERN").upper()
    body = {"name": "Storm lantern", "category": category, "status": "active", "variants": [{"sku": sku}]}
    created = http.post(f"{url}/v1/products", json=body, headers=admin)
    assert created.status_code == 201, created.text
    slug, product_id = created.json()["slug"], created.json()["id"]
    prices = {"prices": [{"sku": sku, "price": {"amount": 3450, "currency": "USD"}}]}
    assert http.put(f"{url}/v1/prices", json=prices, headers=admin).status_code == 200
    stock = {"entries": [{"sku": sku, "location_id": warehouse, "on_hand": 6}], "reason": "backfill test"}
    assert http.put(f"{url}/v1/stock", json=stock, headers=admin).status_code == 200
    found: dict[str, str | int] = {"category": category, "min_price": 3450, "max_price": 3450, "in_stock": "true"}

    def listed() -> bool:
        response = http.get(f"{url}/v1/products", params=found)
        assert response.status_code == 200, response.text
        return [p["slug"] for p in response.json()["products"]] == [slug]

    until(listed)  # the events reached catalog
    catalog_sql(
        stack,
        f"DELETE FROM sku_prices WHERE sku = '{sku}'; DELETE FROM sku_stock WHERE sku = '{sku}';"
        f" DELETE FROM product_prices WHERE product_id = '{product_id}';"
        f" UPDATE product_stock SET in_stock = false WHERE product_id = '{product_id}'",
    )
    assert catalog_sql(stack, f"SELECT count(*) FROM sku_prices WHERE sku = '{sku}'") == "0"

    response = http.post(f"{url}/v1/admin/search-projection/rebuild", headers=admin)
    assert response.status_code == 202, response.text
    asked = response.json()["requested"]

    def completed() -> bool:
        state = http.get(f"{url}/v1/admin/search-projection", headers=admin)
        assert state.status_code == 200, state.text
        return bool(state.json()["completed"] >= asked)

    until(completed)
    rows = catalog_sql(stack, f"SELECT amount, audit_id > 0 FROM sku_prices WHERE sku = '{sku}' AND currency = 'USD'")
    assert rows == "3450|t"
    assert catalog_sql(stack, f"SELECT total_available, stock_version > 0 FROM sku_stock WHERE sku = '{sku}'") == "6|t"
    until(listed)  # search finds it priced and in stock again (past the gateway's short listing cache)
    customer = http.post(f"{url}/v1/auth/token", json={"username": unique("c"), "role": "customer"}).json()
    refused = http.post(
        f"{url}/v1/admin/search-projection/rebuild", headers={"authorization": f"Bearer {customer['access_token']}"}
    )
    assert refused.status_code == 403, refused.text
