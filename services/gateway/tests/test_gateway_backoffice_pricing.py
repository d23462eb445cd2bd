"""Pricing for staff through the gateway against the REAL pricing service: a price list with tiers that
the product page then shows, entries set and removed, a promotion and its coupon, an exchange rate, a
dynamic-pricing rule and the audit log of price changes; bad input named by field; customers refused."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conftest import Client


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _usd(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "USD"}


async def test_price_list_with_tiers_prices_the_group_and_entries_change(gateway: Client) -> None:
    seeded = await gateway.seed_product(prices=(2000,), stock=(5,))
    sku = seeded.skus[0]
    admin = await gateway.auth("admin")
    list_id = gateway.unique("wholesale")
    body = {
        "id": list_id,
        "name": "Wholesale",
        "kind": "override",
        "scope": {"customer_group": list_id, "currency": "USD"},
        "entries": [{"sku": sku, "tiers": [{"min_quantity": 1, "unit_price": _usd(1500)}]}],
    }
    created = _ok(await gateway.http.post("/v1/admin/price-lists", json=body, headers=admin), 201)
    assert (created["id"], created["kind"], created["active"]) == (list_id, "override", True)
    assert created["scope"]["customer_group"] == list_id and created["created_at"]

    buyer = await gateway.auth("customer", customer_group=list_id)
    product = _ok(await gateway.http.get(f"/v1/products/{seeded.product_id}", headers=buyer))
    assert product["variants"][0]["price"] == _usd(1500)

    tiers = [{"min_quantity": 1, "unit_price": _usd(1400)}, {"min_quantity": 10, "unit_price": _usd(1200)}]
    written = _ok(
        await gateway.http.put(
            f"/v1/admin/price-lists/{list_id}/entries", json={"entries": [{"sku": sku, "tiers": tiers}]}, headers=admin
        )
    )
    assert written == {"entries": 1}
    detail = _ok(await gateway.http.get(f"/v1/admin/price-lists/{list_id}", headers=admin))
    assert detail["entries"] == [{"sku": sku, "tiers": tiers}]

    header = {k: v for k, v in body.items() if k != "entries"}
    renamed = _ok(
        await gateway.http.put(f"/v1/admin/price-lists/{list_id}", json={**header, "name": "Trade"}, headers=admin)
    )
    assert renamed["name"] == "Trade"
    listed = _ok(await gateway.http.get("/v1/admin/price-lists", params={"page_size": 100}, headers=admin))
    assert list_id in [p["id"] for p in listed["price_lists"]]

    deleted = await gateway.http.delete(f"/v1/admin/price-lists/{list_id}/entries", params={"sku": sku}, headers=admin)
    assert _ok(deleted) == {"deleted": 1}
    product = _ok(await gateway.http.get(f"/v1/products/{seeded.product_id}", headers=buyer))
    assert product["variants"][0]["price"] == _usd(2000)


async def test_promotion_coupon_rate_rule_and_price_changes(gateway: Client) -> None:
    seeded = await gateway.seed_product(prices=(3000,), stock=(5,))
    sku = seeded.skus[0]
    admin = await gateway.auth("admin")
    promotion_id = gateway.unique("spring")
    promotion = {"id": promotion_id, "name": "Spring", "kind": "percent", "percent_bp": 1000, "target": "order"}
    made = _ok(await gateway.http.post("/v1/admin/promotions", json=promotion, headers=admin), 201)
    assert (made["kind"], made["target"], made["percent_bp"], made["automatic"]) == ("percent", "order", 1000, False)
    promotions = _ok(await gateway.http.get("/v1/admin/promotions", params={"page_size": 100}, headers=admin))
    assert promotion_id in [p["id"] for p in promotions["promotions"]] or promotions["next_page_token"]

    code = gateway.unique("SPRING").upper().replace("-", "")
    coupon = {"code": code, "promotion_id": promotion_id, "usage_limit_total": 10}
    _ok(await gateway.http.post("/v1/admin/coupons", json=coupon, headers=admin), 201)
    read = _ok(await gateway.http.get(f"/v1/admin/coupons/{code.lower()}", headers=admin))
    assert (read["code"], read["times_used"], read["usage_limit_total"]) == (code, 0, 10)

    rate = _ok(await gateway.http.put("/v1/admin/exchange-rates/USD/CHF", json={"rate": "0.8812"}, headers=admin))
    assert (rate["base_currency"], rate["quote_currency"], rate["rate"]) == ("USD", "CHF", "0.8812")
    rates = _ok(await gateway.http.get("/v1/admin/exchange-rates", headers=admin))["rates"]
    assert {"base_currency": "USD", "quote_currency": "CHF", "rate": "0.8812"}.items() <= next(
        r for r in rates if r["quote_currency"] == "CHF"
    ).items()

    rule_id = gateway.unique("scarce")
    rule = {"name": "Scarce", "skus": [sku], "currency": "USD", "low_stock_threshold": 3, "raise_bp": 1000}
    rule |= {"floor_bp": 9000, "ceiling_bp": 12000, "max_step_bp": 500}
    put = _ok(await gateway.http.put(f"/v1/admin/dynamic-rules/{rule_id}", json={"id": rule_id, **rule}, headers=admin))
    assert (put["id"], put["low_stock_threshold"], put["high_stock_threshold"]) == (rule_id, 3, None)
    rules = _ok(await gateway.http.get("/v1/admin/dynamic-rules", params={"page_size": 100}, headers=admin))
    assert rule_id in [r["id"] for r in rules["rules"]] or rules["next_page_token"]
    gone = await gateway.http.delete(f"/v1/admin/dynamic-rules/{rule_id}", headers=admin)
    assert gone.status_code == 204, gone.text

    changes = _ok(await gateway.http.get("/v1/admin/price-changes", params={"sku": sku}, headers=admin))["changes"]
    assert [(c["sku"], c["new_price"], c["old_price"], c["cause"]) for c in changes] == [
        (sku, _usd(3000), None, "base_price_set")
    ]


async def test_bad_pricing_input_names_the_fields(gateway: Client) -> None:
    admin = await gateway.auth("admin")
    bad_kind = {"id": gateway.unique("bad"), "name": "Bad", "kind": "cheap"}
    body = gateway.problem(
        await gateway.http.post("/v1/admin/price-lists", json=bad_kind, headers=admin), 400, "INVALID_ARGUMENT"
    )
    assert [e["field"] for e in body["errors"]] == ["kind"]
    no_percent = {"id": gateway.unique("bad"), "name": "Bad", "kind": "percent", "target": "order"}
    response = await gateway.http.post("/v1/admin/promotions", json=no_percent, headers=admin)
    assert "percent_bp" in [e["field"] for e in gateway.problem(response, 400, "INVALID_ARGUMENT")["errors"]]
    negative = await gateway.http.put("/v1/admin/exchange-rates/USD/JPY", json={"rate": "-1"}, headers=admin)
    assert [e["field"] for e in gateway.problem(negative, 400, "INVALID_ARGUMENT")["errors"]] == ["rate"]
    tier = {"entries": [{"sku": "X", "tiers": [{"min_quantity": 0, "unit_price": _usd(1)}]}]}
    response = await gateway.http.put("/v1/admin/price-lists/nope/entries", json=tier, headers=admin)
    fields = [e["field"] for e in gateway.problem(response, 400, "INVALID_ARGUMENT")["errors"]]
    assert fields == ["entries[0].tiers[0].min_quantity"]
    too_big = await gateway.http.get("/v1/admin/price-changes", params={"page_size": 500}, headers=admin)
    gateway.problem(too_big, 400, "INVALID_ARGUMENT")
    missing = await gateway.http.get(f"/v1/admin/price-lists/{gateway.unique('none')}", headers=admin)
    assert missing.status_code == 404, missing.text


async def test_customers_are_refused_and_anonymous_is_401(gateway: Client) -> None:
    customer = await gateway.auth("customer")
    for method, path, body in (
        ("GET", "/v1/admin/price-lists", None),
        ("POST", "/v1/admin/price-lists", {"id": "x", "name": "X", "kind": "sale"}),
        ("PUT", "/v1/admin/exchange-rates/USD/EUR", {"rate": "0.9"}),
        ("GET", "/v1/admin/price-changes", None),
        ("DELETE", "/v1/admin/dynamic-rules/x", None),
        ("GET", "/v1/admin/coupons/WELCOME", None),
    ):
        gateway.problem(await gateway.http.request(method, path, json=body, headers=customer), 403, "ROLE_REQUIRED")
        gateway.problem(await gateway.http.request(method, path, json=body), 401, "TOKEN_REQUIRED")
