"""A B2B quote negotiated and ordered through the gateway on the launched stack: a buyer asks for a quote
on their cart, a sales user offers lower prices, the buyer asks for a revision, sales offers again (four
versions, all kept), the buyer accepts and checks out with the quote, and the order's lines carry exactly
the quoted unit prices; a second checkout with the same quote is refused; an expired offer cannot be
accepted."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:  # conftest is not importable at run time (pytest's importlib mode); its types are for mypy
    from conftest import B2bVariants, NewShopper, Shopper

pytestmark = [
    pytest.mark.skipif(os.environ.get("SHOP_SKIP_LAUNCHER_TEST") == "1", reason="SHOP_SKIP_LAUNCHER_TEST=1 was set"),
    pytest.mark.timeout(600),
]


def _ask(buyer: Shopper, note: str) -> dict[str, Any]:
    headers = {**buyer.headers, "Idempotency-Key": f"rfq-{uuid.uuid4().hex}"}
    asked = buyer.client.post(f"{buyer.stack.gateway_url}/v1/quotes", json={"note": note}, headers=headers)
    assert asked.status_code == 201, asked.text
    again = buyer.client.post(f"{buyer.stack.gateway_url}/v1/quotes", json={"note": note}, headers=headers)
    assert again.status_code == 201 and again.json()["quote_id"] == asked.json()["quote_id"], again.text
    quote: dict[str, Any] = asked.json()
    return quote


def _offer(sales: Shopper, quote: dict[str, Any], unit: int, expires_in: timedelta) -> httpx.Response:
    lines = [
        {"sku": line["sku"], "unit_price": {"amount": unit, "currency": "USD"}}
        for line in quote["versions"][-1]["lines"]
    ]
    expires_at = (datetime.now(UTC) + expires_in).isoformat()
    return sales.post(f"/v1/admin/quotes/{quote['quote_id']}/offers", {"lines": lines, "expires_at": expires_at})


def test_a_quote_is_negotiated_accepted_and_ordered_at_its_prices(
    new_shopper: NewShopper, b2b_variants: B2bVariants
) -> None:
    account = {"account_id": f"quoting-{uuid.uuid4().hex[:8]}"}
    buyer = new_shopper("quote-buyer", role="b2b_buyer", claims=account)
    sales = new_shopper("sales", role="sales")
    variant = b2b_variants(buyer, 10)[0]
    list_price = variant["price"]["amount"]
    buyer.add_to_cart(variant["sku"], 4)

    quote = _ask(buyer, "4 units for our Q3 rollout")
    assert (quote["status"], quote["current_version"]) == ("requested", 1)
    assert quote["versions"][0]["lines"] == [
        {"sku": variant["sku"], "quantity": 4, "unit_price": {"amount": list_price, "currency": "USD"}}
    ]
    queue = sales.get("/v1/admin/quotes", status="requested", account_id=account["account_id"]).json()["quotes"]
    assert [q["quote_id"] for q in queue] == [quote["quote_id"]]

    first = _offer(sales, quote, list_price * 90 // 100, timedelta(days=30))
    assert first.status_code == 201, first.text
    revised = buyer.post(f"/v1/quotes/{quote['quote_id']}/revision-requests", {"version": 2, "note": "can you do 80%?"})
    assert revised.status_code == 200 and revised.json()["status"] == "requested", revised.text
    quoted = list_price * 80 // 100
    second = _offer(sales, revised.json(), quoted, timedelta(days=30))
    assert second.status_code == 201, second.text
    stale = buyer.post(f"/v1/quotes/{quote['quote_id']}/accept", {"version": 2})
    assert (stale.status_code, stale.json()["code"]) == (409, "QUOTE_VERSION_STALE"), stale.text
    accepted = buyer.post(f"/v1/quotes/{quote['quote_id']}/accept", {"version": 4})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"
    assert [v["kind"] for v in accepted.json()["versions"]] == ["request", "offer", "revision", "offer"]

    placed = buyer.checkout(buyer.new_card(), quote_id=quote["quote_id"])

    assert placed.status_code == 201, placed.text
    assert placed.json()["status"] == "completed", placed.json()
    order = buyer.get(f"/v1/orders/{placed.json()['order_id']}").json()
    assert [(line["sku"], line["quantity"], line["unit_price"]["amount"]) for line in order["lines"]] == [
        (variant["sku"], 4, quoted)
    ], order
    assert order["quote_id"] == quote["quote_id"]
    assert buyer.get(f"/v1/quotes/{quote['quote_id']}").json()["status"] == "ordered"

    # One order per quote: the same basket again with the same quote is refused, nothing charged.
    buyer.add_to_cart(variant["sku"], 4)
    again = buyer.checkout(buyer.new_card(), quote_id=quote["quote_id"])
    assert (again.status_code, again.json()["code"]) == (409, "QUOTE_UNAVAILABLE"), again.text
    assert "already ordered" in again.json()["detail"]


def test_an_expired_offer_cannot_be_accepted(new_shopper: NewShopper, b2b_variants: B2bVariants) -> None:
    buyer = new_shopper("late-buyer", role="b2b_buyer", claims={"account_id": f"late-{uuid.uuid4().hex[:8]}"})
    sales = new_shopper("sales", role="sales")
    buyer.add_to_cart(b2b_variants(buyer, 10)[0]["sku"], 2)
    quote = _ask(buyer, "quickly, please")
    offered = _offer(sales, quote, 100, timedelta(seconds=2))
    assert offered.status_code == 201, offered.text
    time.sleep(2.5)
    late = buyer.post(f"/v1/quotes/{quote['quote_id']}/accept", {"version": 2})
    assert (late.status_code, late.json()["code"]) == (409, "QUOTE_EXPIRED"), late.text
    assert buyer.get(f"/v1/quotes/{quote['quote_id']}").json()["status"] == "expired"
