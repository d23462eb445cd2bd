"""Customer accounts on the launched stack: the profile, saved addresses with their defaults, a card
saved as the provider's token (read by the customers service from the sandbox's server face over
mutual TLS) and used in a checkout to the default shipping address, and the order history showing
the shipment's carrier and tracking number once the back office fulfilled it; a checkout names a saved
address by its id (the customer's own only)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import httpx

from shop_devstack.harness import Stack

if TYPE_CHECKING:  # conftest is not importable at run time (pytest's importlib mode); its types are for mypy
    from conftest import Backstage, NewShopper, Shopper


def call(shopper: Shopper, method: str, path: str, body: Any = None, status: int = 200) -> Any:
    response = shopper.client.request(method, f"{shopper.stack.gateway_url}{path}", json=body, headers=shopper.headers)
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def admin_headers(stack: Stack, http: httpx.Client) -> dict[str, str]:
    issued = http.post(
        f"{stack.gateway_url}/v1/auth/token", json={"username": f"admin-{uuid.uuid4().hex[:8]}", "role": "admin"}
    )
    assert issued.status_code == 200, issued.text
    return {"authorization": f"Bearer {issued.json()['access_token']}"}


def test_an_account_saves_what_a_purchase_uses_and_shows_the_shipment(
    stack: Stack, http: httpx.Client, new_shopper: NewShopper, trail_product: dict[str, Any]
) -> None:
    shopper = new_shopper("account")
    profile = call(shopper, "GET", "/v1/me")
    assert profile["customer_id"] == shopper.username and profile["version"] == 1
    changed = call(shopper, "PATCH", "/v1/me", {"display_name": "Ada", "email": "ada@example.test", "version": 1})
    assert changed["display_name"] == "Ada" and changed["version"] == 2

    home = {"label": "Home", "name": "Ada Lovelace", "line1": "1 Main St", "city": "Springfield", "region": "IL"}
    home |= {"postal_code": "62701", "country": "US"}
    first = call(shopper, "POST", "/v1/me/addresses", home, status=201)
    office = {**home, "label": "Office", "line1": "9 Elm St", "default_billing": True}
    call(shopper, "POST", "/v1/me/addresses", office, status=201)
    saved = call(shopper, "GET", "/v1/me/addresses")["addresses"]
    assert [(a["label"], a["default_shipping"], a["default_billing"]) for a in saved] == [
        ("Home", True, False),
        ("Office", False, True),
    ]

    token = shopper.new_card()
    card = call(shopper, "POST", "/v1/me/payment-methods", {"payment_method_id": token}, status=201)
    assert card["brand"] == "visa" and len(card["last4"]) == 4 and "number" not in card
    [listed] = call(shopper, "GET", "/v1/me/payment-methods")["payment_methods"]

    shopper.add_to_cart(trail_product["variants"][0]["sku"], 1)
    shipping = next(a for a in saved if a["default_shipping"])["address"]
    assert shipping["line1"] == first["address"]["line1"]
    placed = shopper.checkout(listed["payment_method_id"], shipping_address=shipping)
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["order_id"]

    tracking = f"1Z{uuid.uuid4().hex[:12].upper()}"
    fulfilment = {"carrier": "UPS", "tracking_number": tracking}
    shipped = http.post(
        f"{stack.gateway_url}/v1/admin/orders/{order_id}/fulfilments",
        json=fulfilment,
        headers={**admin_headers(stack, http), "Idempotency-Key": f"ship-{uuid.uuid4().hex}"},
    )
    assert shipped.status_code == 200, shipped.text

    order = call(shopper, "GET", f"/v1/orders/{order_id}")
    [shipment] = order["shipments"]
    assert (shipment["carrier"], shipment["tracking_number"]) == ("UPS", tracking) and shipment["shipped_at"]
    history = call(shopper, "GET", "/v1/orders")["orders"]
    assert [o["shipments"][0]["tracking_number"] for o in history if o["order_id"] == order_id] == [tracking]
    # Someone else's account is out of reach: their own is empty.
    stranger = new_shopper("stranger")
    assert call(stranger, "GET", "/v1/me/payment-methods")["payment_methods"] == []


def test_checkout_to_a_saved_address_by_its_id(
    http: httpx.Client, new_shopper: NewShopper, backstage: Backstage, trail_product: dict[str, Any]
) -> None:
    shopper, other = new_shopper("saved-address"), new_shopper("saved-address-other")
    home = {"label": "Home", "name": "Grace Hopper", "line1": "7 Harbor Rd", "city": "Portland", "region": "ME"}
    home |= {"postal_code": "04101", "country": "US"}
    saved = call(shopper, "POST", "/v1/me/addresses", home, status=201)
    theirs = call(other, "POST", "/v1/me/addresses", {**home, "line1": "8 Harbor Rd"}, status=201)
    card = call(shopper, "POST", "/v1/me/payment-methods", {"payment_method_id": shopper.new_card()}, status=201)
    shopper.add_to_cart(trail_product["variants"][0]["sku"], 1)

    # An address and an address id together: 400 on the id; someone else's id: 404 as if unknown.
    both = shopper.checkout(card["payment_method_id"], shipping_address_id=saved["address_id"])
    assert both.status_code == 400 and [e["field"] for e in both.json()["errors"]] == ["shipping_address_id"], both.text
    stolen = shopper.checkout(
        card["payment_method_id"], shipping_address=None, shipping_address_id=theirs["address_id"]
    )
    assert stolen.status_code == 404, stolen.text
    assert shopper.get("/v1/cart").json()["lines"], "nothing was bought"

    # The saved card's id is the provider's payment method: checkout takes it as payment_method.
    placed = shopper.checkout(card["payment_method_id"], shipping_address=None, shipping_address_id=saved["address_id"])
    assert placed.status_code == 201, placed.text
    order = backstage.order(placed.json()["order_id"])
    ship_to = order.fulfilment_method.ship.address
    assert (ship_to.name, ship_to.line1, ship_to.city, ship_to.postal_code) == (
        "Grace Hopper",
        "7 Harbor Rd",
        "Portland",
        "04101",
    )
    assert order.billing_address.line1 == "7 Harbor Rd"  # the billing address defaults to the shipping address
