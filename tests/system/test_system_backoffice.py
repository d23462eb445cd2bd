"""The back office through the gateway of the launched stack: each operation done by an admin (its effect
checked where it shows) and refused for a customer (403) — orders (search, fulfilment, refund), locations
and stock movements, a fraud review with its signals, pricing (price list, promotion and coupon, rate,
dynamic rule, audit log) and a bulk product import (the catalog's: its progress outlives a kill -9 of the
gateway that took it)."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:  # conftest is not importable at run time (pytest's importlib mode); its types are for mypy
    from conftest import Backstage, NewShopper, Shopper

    from shop_devstack.harness import Stack

pytestmark = [
    pytest.mark.skipif(os.environ.get("SHOP_SKIP_LAUNCHER_TEST") == "1", reason="SHOP_SKIP_LAUNCHER_TEST=1 was set"),
    pytest.mark.timeout(600),
]

US_ADDRESS = {"name": "Ada", "line1": "1 Main St", "city": "Springfield", "postal_code": "62701", "country": "US"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass
class Office:
    """An admin and a customer of the stack's gateway, and a product of this module's own in stock."""

    http: httpx.Client
    url: str
    admin: dict[str, str]
    customer: Shopper
    category: str
    sku: str
    warehouse: str

    def call(self, method: str, path: str, who: dict[str, str], body: Any = None, **params: Any) -> httpx.Response:
        headers = {**who, "Idempotency-Key": unique("backoffice")}
        return self.http.request(method, f"{self.url}{path}", json=body, params=params, headers=headers)

    def ok(self, method: str, path: str, body: Any = None, status: int = 200, **params: Any) -> Any:
        response = self.call(method, path, self.admin, body, **params)
        assert response.status_code == status, response.text
        return response.json() if response.content else None

    def refused(self, method: str, path: str, body: Any = None, **params: Any) -> None:
        """Refused to the customer (403 ROLE_REQUIRED, nothing done) and to an anonymous caller (401)."""
        response = self.call(method, path, self.customer.headers, body, **params)
        assert (response.status_code, response.json()["code"]) == (403, "ROLE_REQUIRED"), response.text
        assert self.http.request(method, f"{self.url}{path}", json=body, params=params).status_code == 401


@pytest.fixture
def office(stack: Stack, http: httpx.Client, new_shopper: NewShopper) -> Iterator[Office]:
    issued = http.post(f"{stack.gateway_url}/v1/auth/token", json={"username": unique("office"), "role": "admin"})
    assert issued.status_code == 200, issued.text
    admin = {"authorization": f"Bearer {issued.json()['access_token']}"}
    office = Office(http, stack.gateway_url, admin, new_shopper("backoffice"), unique("backoffice"), "", "")
    office.ok("POST", "/v1/categories", {"slug": office.category, "name": "Back office"}, status=201)
    office.sku = unique("BO").upper()
    product = {"name": unique("Back-office item"), "category": office.category, "variants": [{"sku": office.sku}]}
    office.ok("POST", "/v1/products", product, status=201)
    office.ok("PUT", "/v1/prices", {"prices": [{"sku": office.sku, "price": {"amount": 2500, "currency": "USD"}}]})
    warehouses = office.ok("GET", "/v1/admin/locations", type="warehouse", country="US")["locations"]
    office.warehouse = warehouses[0]["location_id"]
    entries = [{"sku": office.sku, "location_id": office.warehouse, "on_hand": 50}]
    office.ok("PUT", "/v1/stock", {"entries": entries, "reason": "back-office system test"})
    yield office


def test_orders_search_fulfil_and_refund(office: Office) -> None:
    customer = office.customer
    customer.add_to_cart(office.sku, 2)
    placed = customer.checkout(customer.new_card())
    assert placed.status_code == 201 and placed.json()["status"] == "completed", placed.text
    order_id, number = placed.json()["order_id"], placed.json()["order_number"]

    mine = office.ok("GET", "/v1/admin/orders", customer_id=customer.username)["orders"]
    assert [o["order_id"] for o in mine] == [order_id]
    assert [o["number"] for o in office.ok("GET", "/v1/admin/orders", number=number)["orders"]] == [number]
    line = mine[0]["lines"][0]["line_id"]

    ship = {"lines": [{"line_id": line, "quantity": 1}], "carrier": "DHL", "tracking_number": "JD014600006281"}
    shipped = office.ok("POST", f"/v1/admin/orders/{order_id}/fulfilments", ship)
    assert shipped["order"]["status"] == "partially_fulfilled" and shipped["fulfilment"]["carrier"] == "DHL"
    assert customer.get(f"/v1/orders/{order_id}").json()["fulfillment_status"] == "partially_fulfilled"

    key = {"Idempotency-Key": unique("refund")}
    refund = {"reason": "late delivery", "amount": {"amount": 300, "currency": "USD"}}
    for _ in range(2):  # the same key refunds once
        answer = office.http.post(
            f"{office.url}/v1/admin/orders/{order_id}/refunds", json=refund, headers={**office.admin, **key}
        )
        assert answer.status_code == 200, answer.text
    order = office.ok("GET", f"/v1/admin/orders/{order_id}")
    assert [r["amount"]["amount"] for r in order["refunds"]] == [300]
    assert order["payment"]["refunded_amount"] == {"amount": 300, "currency": "USD"}

    office.refused("GET", "/v1/admin/orders")
    office.refused("GET", f"/v1/admin/orders/{order_id}")
    office.refused("POST", f"/v1/admin/orders/{order_id}/fulfilments", ship)
    office.refused("POST", f"/v1/admin/orders/{order_id}/refunds", refund)
    assert office.ok("GET", f"/v1/admin/orders/{order_id}")["refunds"] == order["refunds"]


def test_locations_and_stock_movements(office: Office, backstage: Backstage) -> None:
    location_id = unique("wh-backoffice")
    location = {"location_id": location_id, "type": "warehouse", "name": "Overflow", "country": "US", "priority": 90}
    assert office.ok("POST", "/v1/admin/locations", location, status=201)["type"] == "warehouse"
    assert office.ok("PATCH", f"/v1/admin/locations/{location_id}", {"name": "Overflow 2"})["name"] == "Overflow 2"
    assert office.ok("GET", f"/v1/admin/locations/{location_id}")["priority"] == 90

    delivery = {"entries": [{"sku": office.sku, "location_id": location_id, "quantity": 12}], "reason": "PO-1"}
    assert office.ok("POST", "/v1/admin/stock/restocks", delivery)["stock"][0]["on_hand"] == 12
    adjustment = {"sku": office.sku, "location_id": location_id, "delta": -2, "reason": "damaged"}
    assert office.ok("POST", "/v1/admin/stock/adjustments", adjustment)["on_hand"] == 10
    assert backstage.stock(office.sku).get(location_id) == 10
    levels = office.ok("GET", "/v1/stock", sku=office.sku)["stock"]
    assert {(s["location_id"], s["on_hand"]) for s in levels} >= {(location_id, 10)}

    office.refused("POST", "/v1/admin/locations", {**location, "location_id": unique("wh-refused")})
    office.refused("PATCH", f"/v1/admin/locations/{location_id}", {"name": "Refused"})
    office.refused("GET", "/v1/admin/locations")
    office.refused("POST", "/v1/admin/stock/restocks", delivery)
    office.refused("POST", "/v1/admin/stock/adjustments", adjustment)
    assert backstage.stock(office.sku).get(location_id) == 10


def test_a_review_with_its_signals(office: Office, new_shopper: NewShopper) -> None:
    # The held-order profile of test_system_holds: a new account, a GB card and IP, US billing, over 2,000 USD.
    office.ok("PUT", "/v1/prices", {"prices": [{"sku": office.sku, "price": {"amount": 220_000, "currency": "USD"}}]})
    try:
        traveller = new_shopper("bo-traveller", claims={"customer_since": int(time.time())}, ip_country="GB")
        traveller.add_to_cart(office.sku, 1)
        placed = traveller.checkout(traveller.new_card("GB"), billing_address=US_ADDRESS)
    finally:
        office.ok("PUT", "/v1/prices", {"prices": [{"sku": office.sku, "price": {"amount": 2500, "currency": "USD"}}]})
    assert placed.status_code == 201 and placed.json()["status"] == "pending_review", placed.text
    analyst = new_shopper("bo-analyst", role="fraud_analyst")
    queue = analyst.get("/v1/reviews", page_size=100).json()["reviews"]
    [review] = [r for r in queue if r["checkout_id"] == placed.json()["checkout_id"]]
    detail = analyst.get(f"/v1/reviews/{review['review_id']}")
    assert detail.status_code == 200, detail.text
    signals = detail.json()["assessment"]["context"]
    assert (signals["ip_country"], signals["card_country"], signals["billing_country"]) == ("GB", "GB", "US")
    assert "ip_country_mismatch" in {r["code"] for r in detail.json()["assessment"]["reasons"]}
    office.refused("GET", f"/v1/reviews/{review['review_id']}")


def test_pricing(office: Office) -> None:
    group = unique("vip")
    price_list = {
        "id": group,
        "name": "VIP",
        "kind": "override",
        "scope": {"customer_group": group},
        "entries": [
            {"sku": office.sku, "tiers": [{"min_quantity": 1, "unit_price": {"amount": 2000, "currency": "USD"}}]}
        ],
    }
    assert office.ok("POST", "/v1/admin/price-lists", price_list, status=201)["kind"] == "override"
    issued = office.http.post(
        f"{office.url}/v1/auth/token", json={"username": unique("vip"), "role": "customer", "customer_group": group}
    )
    vip = {"authorization": f"Bearer {issued.json()['access_token']}"}
    cart = office.http.post(f"{office.url}/v1/cart/items", json={"sku": office.sku, "quantity": 1}, headers=vip)
    assert cart.json()["lines"][0]["unit_price"] == {"amount": 2000, "currency": "USD"}, cart.text
    assert [e["sku"] for e in office.ok("GET", f"/v1/admin/price-lists/{group}")["entries"]] == [office.sku]

    promotion = {"id": group, "name": "VIP 10%", "kind": "percent", "percent_bp": 1000, "target": "order"}
    office.ok("POST", "/v1/admin/promotions", promotion, status=201)
    code = group.upper().replace("-", "")
    office.ok("POST", "/v1/admin/coupons", {"code": code, "promotion_id": group}, status=201)
    with_coupon = office.http.post(f"{office.url}/v1/cart/coupon", json={"code": code}, headers=vip)
    assert with_coupon.json()["coupon"]["applied"] is True, with_coupon.text
    assert office.ok("GET", f"/v1/admin/coupons/{code}")["promotion_id"] == group

    rate = office.ok("PUT", "/v1/admin/exchange-rates/USD/SEK", {"rate": "10.4"})
    assert rate["rate"] == "10.4"
    rule = {"name": "Scarce", "skus": [office.sku], "low_stock_threshold": 1, "raise_bp": 500, "enabled": False}
    assert office.ok("PUT", f"/v1/admin/dynamic-rules/{group}", rule)["enabled"] is False
    office.ok("DELETE", f"/v1/admin/dynamic-rules/{group}", status=204)
    changes = office.ok("GET", "/v1/admin/price-changes", sku=office.sku)["changes"]
    assert changes and changes[0]["cause"] == "base_price_set"

    office.refused("POST", "/v1/admin/price-lists", {**price_list, "id": unique("refused")})
    office.refused("PUT", f"/v1/admin/price-lists/{group}/entries", {"entries": price_list["entries"]})
    office.refused("POST", "/v1/admin/promotions", {**promotion, "id": unique("refused")})
    office.refused("POST", "/v1/admin/coupons", {"code": "REFUSED1", "promotion_id": group})
    office.refused("PUT", "/v1/admin/exchange-rates/USD/SEK", {"rate": "1"})
    office.refused("PUT", f"/v1/admin/dynamic-rules/{group}", rule)
    office.refused("GET", "/v1/admin/price-changes")
    assert office.ok("GET", "/v1/admin/exchange-rates")["rates"] and rate == next(
        r for r in office.ok("GET", "/v1/admin/exchange-rates")["rates"] if r["quote_currency"] == "SEK"
    )


def test_bulk_product_import(office: Office) -> None:
    tag = unique("imported")
    lines = [
        json.dumps(
            {
                "slug": f"{tag}-{i}",
                "name": f"Imported {i}",
                "category_slug": office.category,
                "status": "PRODUCT_STATUS_ACTIVE",
                "channels": ["CHANNEL_WEB"],
                "variants": [{"sku": f"{tag}-{i}".upper()}],
            }
        )
        for i in range(20)
    ]
    upload = "\n".join([*lines, '{"slug": "no-category", "name": "X", "variants": [{"sku": "NOCAT-1"}]}']).encode()
    headers = {**office.admin, "content-type": "application/x-ndjson"}
    started = office.http.post(f"{office.url}/v1/admin/product-imports", content=upload, headers=headers)
    assert started.status_code == 202, started.text
    location = f"{office.url}{started.headers['location']}"
    deadline = time.monotonic() + 60
    while (progress := office.http.get(location, headers=office.admin).json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, progress
        time.sleep(0.2)
    assert (progress["status"], progress["lines_done"], progress["created"], progress["failed"]) == (
        "done",
        21,
        20,
        1,
    ), progress
    failed = office.http.get(f"{location}/lines", params={"failed_only": "true"}, headers=office.admin).json()
    assert [r["line"] for r in failed["lines"]] == [21] and failed["lines"][0]["errors"], failed
    shown = office.customer.get("/v1/products", category=office.category, page_size=50).json()["products"]
    assert {f"{tag}-{i}" for i in range(20)} <= {p["slug"] for p in shown}

    refused = office.http.post(
        f"{office.url}/v1/admin/product-imports",
        content=upload,
        headers={**office.customer.headers, "content-type": "application/x-ndjson"},
    )
    assert refused.status_code == 403, refused.text
    office.refused("GET", started.headers["location"])


GATEWAY_BACK_WITHIN = 90.0  # the launcher's backoff plus a cold start of the gateway on a busy machine


def test_an_import_outlives_a_gateway_restart(office: Office, backstage: Backstage) -> None:
    """The catalog owns the import: a kill -9 of the gateway that took it loses nothing, and the restarted
    gateway (any replica) reads it back and answers the same Idempotency-Key with the same import."""
    tag = unique("durable")
    lines = [
        json.dumps(
            {
                "slug": f"{tag}-{i}",
                "name": f"Durable {i}",
                "category_slug": office.category,
                "status": "PRODUCT_STATUS_ACTIVE",
                "variants": [{"sku": f"{tag}-{i}".upper()}],
            }
        )
        for i in range(300)
    ]
    headers = {**office.admin, "content-type": "application/x-ndjson", "Idempotency-Key": unique("import")}
    started = office.http.post(f"{office.url}/v1/admin/product-imports", content="\n".join(lines), headers=headers)
    assert started.status_code == 202, started.text
    before = backstage.process("gateway")
    os.kill(before["pid"], signal.SIGKILL)
    backstage.eventually(
        lambda: backstage.process("gateway"),
        lambda row: row["restarts"] > before["restarts"] and row["health"] == "SERVING",
        within=GATEWAY_BACK_WITHIN,
        interval=0.5,
    )
    location = f"{office.url}{started.headers['location']}"

    def read() -> dict[str, Any]:
        try:
            response = office.http.get(location, headers=office.admin)
        except httpx.TransportError as error:  # a connection of the killed gateway's
            return {"status": f"unreachable: {error}"}
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    progress = backstage.eventually(read, lambda body: body["status"] in ("done", "failed"), within=60, interval=0.3)
    assert (progress["status"], progress["lines_done"], progress["created"], progress["failed"]) == (
        "done",
        300,
        300,
        0,
    ), progress
    again = office.http.post(f"{office.url}/v1/admin/product-imports", content="\n".join(lines), headers=headers)
    assert (again.status_code, again.headers["location"]) == (202, started.headers["location"]), again.text
    listed = office.http.get(f"{office.url}/v1/admin/product-imports", headers=office.admin).json()["imports"]
    assert progress["import_id"] in [item["import_id"] for item in listed]
    office.refused("GET", "/v1/admin/product-imports")
