"""Locations and stock movements through the gateway against the REAL inventory service: create (safe to
repeat), change named fields, list with filters and cursor pages; a delivery and an adjustment applied once
per Idempotency-Key, seen in the stock levels; bad input named by field; customers refused."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conftest import Client


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def test_locations_create_update_list_and_get(gateway: Client) -> None:
    admin = await gateway.auth("admin")
    location_id = gateway.unique("store").lower()
    body = {
        "location_id": location_id,
        "type": "store",
        "name": "Downtown",
        "country": "US",
        "address": {"line1": "5 Market St", "city": "Springfield", "postal_code": "62701", "country": "US"},
        "click_and_collect": True,
    }
    created = _ok(await gateway.http.post("/v1/admin/locations", json=body, headers=admin), 201)
    assert (created["type"], created["name"], created["active"]) == ("store", "Downtown", True)
    again = _ok(await gateway.http.post("/v1/admin/locations", json=body, headers=admin), 201)
    assert again["location_id"] == location_id
    clash = await gateway.http.post("/v1/admin/locations", json={**body, "name": "Other"}, headers=admin)
    assert clash.status_code == 409, clash.text

    changed = _ok(await gateway.http.patch(f"/v1/admin/locations/{location_id}", json={"priority": 7}, headers=admin))
    assert (changed["priority"], changed["name"], changed["click_and_collect"]) == (7, "Downtown", True)
    off = _ok(await gateway.http.patch(f"/v1/admin/locations/{location_id}", json={"active": False}, headers=admin))
    assert off["active"] is False
    assert _ok(await gateway.http.get(f"/v1/admin/locations/{location_id}", headers=admin))["priority"] == 7

    active_stores = {"type": "store", "country": "US"}
    listed = _ok(await gateway.http.get("/v1/admin/locations", params=active_stores, headers=admin))
    assert location_id not in [loc["location_id"] for loc in listed["locations"]]
    every: list[str] = []
    token = ""
    while True:
        params = {"type": "store", "include_inactive": "true", "page_size": "1", "page_token": token}
        page = _ok(await gateway.http.get("/v1/admin/locations", params=params, headers=admin))
        assert all(loc["type"] == "store" for loc in page["locations"])
        every += [loc["location_id"] for loc in page["locations"]]
        token = page["next_page_token"]
        if not token:
            break
    assert location_id in every and every == sorted(every)


async def test_bad_locations_are_400_with_their_fields(gateway: Client) -> None:
    admin = await gateway.auth("admin")
    bad_type = {"location_id": "x-1", "type": "shed", "name": "X", "country": "US"}
    body = gateway.problem(
        await gateway.http.post("/v1/admin/locations", json=bad_type, headers=admin), 400, "INVALID_ARGUMENT"
    )
    assert [e["field"] for e in body["errors"]] == ["type"]
    no_name = {"location_id": gateway.unique("wh").lower(), "type": "warehouse", "name": "", "country": "US"}
    body = gateway.problem(
        await gateway.http.post("/v1/admin/locations", json=no_name, headers=admin), 400, "INVALID_ARGUMENT"
    )
    assert "name" in [e["field"] for e in body["errors"]]
    nothing = await gateway.http.patch(f"/v1/admin/locations/{gateway.backends.locations[0]}", json={}, headers=admin)
    assert [e["field"] for e in gateway.problem(nothing, 400, "INVALID_ARGUMENT")["errors"]] == ["fields"]
    missing = await gateway.http.get("/v1/admin/locations/no-such-place", headers=admin)
    gateway.problem(missing, 404, missing.json()["code"])


async def test_restock_and_adjust_once_per_key_and_the_levels_show_it(gateway: Client) -> None:
    seeded = await gateway.seed_product(prices=(1000,), stock=(5,))
    sku, warehouse = seeded.skus[0], gateway.backends.locations[0]
    admin = await gateway.auth("admin")
    delivery = {"entries": [{"sku": sku, "location_id": warehouse, "quantity": 10}], "reason": "PO-77"}
    key = {"Idempotency-Key": f"delivery-{uuid.uuid4()}"}
    for _ in range(2):
        levels = _ok(await gateway.http.post("/v1/admin/stock/restocks", json=delivery, headers={**admin, **key}))
    assert [(s["sku"], s["on_hand"]) for s in levels["stock"]] == [(sku, 15)]

    adjustment = {"sku": sku, "location_id": warehouse, "delta": -3, "reason": "damaged"}
    key = {"Idempotency-Key": f"adjust-{uuid.uuid4()}"}
    for _ in range(2):
        level = _ok(await gateway.http.post("/v1/admin/stock/adjustments", json=adjustment, headers={**admin, **key}))
    assert (level["on_hand"], level["available"]) == (12, 12)
    stock = _ok(await gateway.http.get("/v1/stock", params={"sku": sku}, headers=admin))["stock"]
    assert [(s["location_id"], s["on_hand"]) for s in stock] == [(warehouse, 12)]

    below = {**adjustment, "delta": -100}
    refused = await gateway.http.post(
        "/v1/admin/stock/adjustments", json=below, headers={**admin, "Idempotency-Key": f"adjust-{uuid.uuid4()}"}
    )
    assert refused.status_code in (400, 409), refused.text
    no_key = await gateway.http.post("/v1/admin/stock/restocks", json=delivery, headers=admin)
    gateway.problem(no_key, 400, "IDEMPOTENCY_KEY_REQUIRED")
    zero = {"entries": [{"sku": sku, "location_id": warehouse, "quantity": 0}]}
    response = await gateway.http.post("/v1/admin/stock/restocks", json=zero, headers={**admin, **key})
    assert [e["field"] for e in gateway.problem(response, 400, "INVALID_ARGUMENT")["errors"]] == ["entries[0].quantity"]
    stock = _ok(await gateway.http.get("/v1/stock", params={"sku": sku}, headers=admin))["stock"]
    assert [s["on_hand"] for s in stock] == [12]  # nothing refused changed anything


async def test_customers_are_refused_and_anonymous_is_401(gateway: Client) -> None:
    customer = {**await gateway.auth("customer"), "Idempotency-Key": f"k-{uuid.uuid4()}"}
    warehouse = gateway.backends.locations[0]
    for method, path, body in (
        ("GET", "/v1/admin/locations", None),
        ("GET", f"/v1/admin/locations/{warehouse}", None),
        ("PATCH", f"/v1/admin/locations/{warehouse}", {"priority": 1}),
        ("POST", "/v1/admin/locations", {"location_id": "x-2", "type": "store", "name": "X", "country": "US"}),
        ("POST", "/v1/admin/stock/restocks", {"entries": [{"sku": "S", "location_id": warehouse, "quantity": 1}]}),
        ("POST", "/v1/admin/stock/adjustments", {"sku": "S", "location_id": warehouse, "delta": 1, "reason": "x"}),
    ):
        response = await gateway.http.request(method, path, json=body, headers=customer)
        gateway.problem(response, 403, "ROLE_REQUIRED")
        gateway.problem(await gateway.http.request(method, path, json=body), 401, "TOKEN_REQUIRED")
