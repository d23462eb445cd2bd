"""Guests through the gateway on the launched stack: a shopper without an account starts a guest cart,
prices it for a destination and buys with an e-mail address and a card tokenised at the sandbox's public
face; the order (read over order's gRPC as the operators' tooling) carries that address and no customer,
the sandbox authorised its total, and the confirmation mail reaches the guest at the stack's SMTP catcher.
A second guest cart is taken into the customer's cart when the shopper signs in: the customer's cart holds
both, the guest cart is `merged` and its token changes nothing any more; a customer without a cart takes the
guest cart over, and a guest cart already bought adds nothing. A guest opens a delivered order with its
number and e-mail and returns it to a store, whose staff receive and refund it."""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from shop_devstack.harness import Stack
from shop_devstack.mailcatcher import parse, read_mails, text_of

if TYPE_CHECKING:  # conftest is not importable at run time (pytest's importlib mode); its types are for mypy
    from conftest import Backstage, NewShopper, Shopper

pytestmark = [
    pytest.mark.skipif(os.environ.get("SHOP_SKIP_LAUNCHER_TEST") == "1", reason="SHOP_SKIP_LAUNCHER_TEST=1 was set"),
    pytest.mark.timeout(600),
]

TOKEN = "X-Cart-Token"
# Shipped to San Francisco: CA sales tax on the lines, express shipping priced by weight.
CALIFORNIA = dict(name="G. H.", line1="1 Market", city="San Francisco", region="CA", postal_code="94105", country="US")


class Guest:
    """A shopper without an account, from the browser `person` later signs in with (their IP and device):
    the guest cart's id, sent as X-Cart-Token, is its only credential."""

    def __init__(self, http: httpx.Client, stack: Stack, person: Shopper) -> None:
        self.http, self.url = http, stack.gateway_url
        self.headers = {name: value for name, value in person.headers.items() if name != "authorization"}
        created = http.post(f"{self.url}/v1/guest-carts", json={}, headers=self.headers)
        assert created.status_code == 201, created.text
        assert created.json()["status"] == "active" and created.headers[TOKEN] == created.json()["cart_id"]
        self.token = created.json()["cart_id"]
        self.headers[TOKEN] = self.token

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(f"{self.url}{path}", params=params, headers=self.headers)

    def post(self, path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
        return self.http.post(f"{self.url}{path}", json=body, headers={**self.headers, **headers})

    def add(self, sku: str, quantity: int) -> dict[str, Any]:
        added = self.post("/v1/cart/items", {"sku": sku, "quantity": quantity})
        assert added.status_code == 200, added.text
        cart: dict[str, Any] = added.json()
        assert cart["cart_id"] == self.token
        return cart


def variants(guest: Guest, backstage: Backstage, count: int) -> list[str]:
    """SKUs of `count` priced variants of the demo catalog with stock at a warehouse, found as a guest
    browses (the search `trail`, no token)."""
    found = guest.get("/v1/products", query="trail", page_size=20)
    assert found.status_code == 200, found.text
    skus = [
        variant["sku"]
        for product in found.json()["products"]
        for variant in product["variants"]
        if variant["price"] and sum(backstage.stock(variant["sku"]).values()) >= 10
    ]
    assert len(skus) >= count, found.text
    return skus[:count]


def quantities(cart: dict[str, Any]) -> dict[str, int]:
    return {line["sku"]: line["quantity"] for line in cart["lines"]}


def test_a_guest_buys_with_an_email_and_is_sent_the_confirmation(
    stack: Stack, http: httpx.Client, new_shopper: NewShopper, backstage: Backstage
) -> None:
    person = new_shopper("guest-buyer")
    guest = Guest(http, stack, person)
    email = f"guest-{uuid.uuid4().hex[:8]}@example.test"
    [sku] = variants(guest, backstage, 1)
    cart = guest.add(sku, 2)
    options = guest.get("/v1/cart/shipping-options", country="US", region="CA", postal_code="94105")
    assert options.status_code == 200, options.text
    assert {"standard", "express"} <= {option["code"] for option in options.json()["options"]}, options.text
    estimate = guest.get("/v1/cart/shipping-options", country="US", region="CA", shipping_method="express").json()
    totals = estimate["totals"]
    assert totals["subtotal"] == cart["subtotal"] and totals["tax_total"]["amount"] > 0, estimate
    card, key = person.new_card(), f"guest-{uuid.uuid4().hex}"
    body = {
        "payment_method": card,
        "fulfillment": {"method": "ship"},
        "shipping_address": CALIFORNIA,
        "shipping_method": "express",
    }

    no_email = guest.post("/v1/checkout", body, **{"Idempotency-Key": key})
    assert no_email.status_code == 400 and [e["field"] for e in no_email.json()["errors"]] == ["email"], no_email.text
    placed = guest.post("/v1/checkout", {**body, "email": email}, **{"Idempotency-Key": key})
    assert placed.status_code == 201, placed.text
    answer = placed.json()
    assert answer["status"] == "completed" and answer["order_id"], answer
    again = guest.post("/v1/checkout", {**body, "email": email}, **{"Idempotency-Key": key})
    assert again.status_code == 201 and again.json() == answer, again.text

    checkout = guest.get(f"/v1/checkout/{answer['checkout_id']}")
    assert checkout.status_code == 200 and checkout.json()["totals"] == totals, checkout.text
    assert guest.get("/v1/cart").json()["status"] == "checked_out"
    # The order as the shop keeps it: the guest's e-mail, no customer, the estimate's total authorised.
    order = backstage.order(answer["order_id"])
    assert (order.email, order.customer_id, order.number) == (email, "", answer["order_number"])
    assert order.totals.total.amount == totals["total"]["amount"]
    authorisation = backstage.authorization(order.payment.authorisation_id)
    assert (authorisation["amount"], authorisation["currency"]) == (totals["total"]["amount"], "USD")
    # Nobody else reads the guest's checkout: not another guest, nor the person once signed in.
    stranger = Guest(http, stack, new_shopper("guest-stranger"))
    assert stranger.get(f"/v1/checkout/{answer['checkout_id']}").status_code == 404
    assert person.get(f"/v1/checkout/{answer['checkout_id']}").status_code == 404
    # Signing in after the purchase takes nothing into the customer's cart: those lines were bought.
    merge = http.post(f"{stack.gateway_url}/v1/cart/merge", headers={**person.headers, TOKEN: guest.token})
    assert (merge.status_code, merge.json()["code"]) == (409, "CART_NOT_ACTIVE"), merge.text
    assert person.get("/v1/cart").json()["lines"] == []

    def caught() -> list[Any]:
        return [parse(mail.path) for mail in read_mails(stack.mail_dir) if mail.to == email]

    [mail] = backstage.eventually(caught, lambda mails: len(mails) >= 1, within=20)
    assert (mail["X-Shop-Notification"], mail["X-Shop-Order-Id"]) == ("order_confirmation", answer["order_id"])
    assert mail["Subject"] == f"Your order {order.number} is confirmed"
    assert order.number in text_of(mail) and "San Francisco" in text_of(mail)


def test_a_guest_cart_merges_into_the_customers_at_sign_in(
    stack: Stack, http: httpx.Client, new_shopper: NewShopper, backstage: Backstage
) -> None:
    person = new_shopper("guest-merge")
    guest = Guest(http, stack, person)
    kept, added = variants(guest, backstage, 2)
    guest.add(kept, 2)
    guest_cart = guest.add(added, 1)
    customer_cart = person.add_to_cart(kept, 1)  # what the customer put in the cart on an earlier visit

    # Signing in: the storefront sends the new token and the guest's cart token together.
    merge = f"{stack.gateway_url}/v1/cart/merge"
    merged = http.post(merge, headers={**person.headers, TOKEN: guest.token})
    assert merged.status_code == 200, merged.text
    assert merged.json()["cart_id"] == customer_cart["cart_id"]
    assert quantities(merged.json()) == {kept: 3, added: 1}
    cart = person.get("/v1/cart").json()
    assert quantities(cart) == {kept: 3, added: 1}
    assert cart["subtotal"]["amount"] == guest_cart["subtotal"]["amount"] + customer_cart["subtotal"]["amount"]

    # The guest cart is merged: readable with its token, changed by nothing, taken in once.
    assert guest.get("/v1/cart").json()["status"] == "merged"
    late = guest.post("/v1/cart/items", {"sku": added, "quantity": 1})
    assert (late.status_code, late.json()["code"]) == (409, "CART_NOT_ACTIVE"), late.text
    again = http.post(merge, headers={**person.headers, TOKEN: guest.token})
    assert again.status_code == 200 and quantities(again.json()) == {kept: 3, added: 1}, again.text
    # A merge needs the customer's token; a cart token alone is 401.
    assert http.post(merge, headers=guest.headers).status_code == 401

    # A customer without a cart of their own takes the guest cart over: from then on it is theirs alone.
    newcomer = new_shopper("guest-newcomer")
    theirs = Guest(http, stack, newcomer)
    theirs.add(kept, 1)
    adopted = http.post(merge, headers={**newcomer.headers, TOKEN: theirs.token})
    assert adopted.status_code == 200 and adopted.json()["cart_id"] == theirs.token, adopted.text
    assert quantities(newcomer.get("/v1/cart").json()) == {kept: 1}
    assert theirs.get("/v1/cart").status_code == 404


def test_a_guest_opens_the_order_with_its_number_and_email_and_returns_it(
    stack: Stack, http: httpx.Client, new_shopper: NewShopper, backstage: Backstage
) -> None:
    person = new_shopper("guest-returner")
    guest = Guest(http, stack, person)
    email = f"guest-return-{uuid.uuid4().hex[:8]}@example.test"
    [sku] = variants(guest, backstage, 1)
    guest.add(sku, 1)
    body = {"payment_method": person.new_card(), "shipping_address": CALIFORNIA, "email": email}
    placed = guest.post("/v1/checkout", body, **{"Idempotency-Key": f"guest-{uuid.uuid4().hex}"})
    assert placed.status_code == 201 and placed.json()["status"] == "completed", placed.text
    order = backstage.deliver(placed.json()["order_id"], "1ZGUEST")  # delivered

    # Without an account: the order number and the checkout's e-mail (any case) open the order.
    lookup = f"{stack.gateway_url}/v1/guest-orders/lookup"
    anonymous = {name: value for name, value in guest.headers.items() if name != TOKEN}
    wrong = http.post(lookup, json={"order_number": order.number, "email": "someone@example.test"}, headers=anonymous)
    unknown = http.post(lookup, json={"order_number": "SO-999999999", "email": email}, headers=anonymous)
    assert (wrong.status_code, unknown.status_code) == (404, 404) and wrong.json()["detail"] != "", wrong.text
    assert wrong.json()["code"] == unknown.json()["code"] == "NOT_FOUND"
    opened = http.post(lookup, json={"order_number": order.number, "email": email.upper()}, headers=anonymous)
    assert opened.status_code == 200 and opened.json()["order_id"] == order.order_id, opened.text
    headers = {**anonymous, "X-Order-Token": opened.json()["access_token"]}
    read = http.get(f"{stack.gateway_url}/v1/guest-orders/{order.order_id}", headers=headers)
    assert read.status_code == 200 and read.json()["number"] == order.number, read.text

    stores = person.get("/v1/stores", country="US").json()["stores"]
    store_id = stores[0]["store_id"]
    wanted = {
        "lines": [{"line_id": order.lines[0].line_id, "quantity": 1}],
        "reason": "changed_mind",
        "method": "store",
        "store_id": store_id,
    }
    returns = f"{stack.gateway_url}/v1/guest-orders/{order.order_id}/returns"
    key = {"Idempotency-Key": f"guest-return-{uuid.uuid4().hex}"}
    started = http.post(returns, json=wanted, headers={**headers, **key})
    assert started.status_code == 201 and started.json()["status"] == "requested", started.text
    ret = started.json()
    again = http.post(returns, json=wanted, headers={**headers, **key})
    assert again.status_code == 201 and again.json()["id"] == ret["id"], again.text

    # The store's staff receive and inspect it: the guest's payment is refunded.
    staff = new_shopper("guest-clerk", role="store_staff", claims={"locations": [store_id]})
    received = staff.client.post(
        f"{stack.gateway_url}/v1/returns/{ret['id']}/receive", json={"location_id": store_id}, headers=staff.headers
    )
    assert received.status_code == 200, received.text
    inspected = staff.client.post(
        f"{stack.gateway_url}/v1/returns/{ret['id']}/inspect",
        json={"lines": [{"line_id": order.lines[0].line_id, "accepted_sellable": 1}]},
        headers={**staff.headers, "Idempotency-Key": f"guest-inspect-{uuid.uuid4().hex}"},
    )
    assert inspected.status_code == 200 and inspected.json()["status"] == "refunded", inspected.text
    listed = http.get(returns, headers=headers).json()["returns"]
    assert [(r["id"], r["status"]) for r in listed] == [(ret["id"], "refunded")]
    refunded = backstage.eventually(
        lambda: backstage.authorization(order.payment.authorisation_id).get("amount_refunded", 0),
        lambda amount: amount == order.totals.total.amount,
    )
    assert refunded == order.totals.total.amount
