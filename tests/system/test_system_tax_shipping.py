"""Shipping and tax through the gateway on the launched stack (its demo rules: free standard and weight-rated
express shipping in the US, CA and NY sales tax added on the shipping state; DE VAT 19 % included in the
prices with 4.90 EUR standard shipping under 60.00 EUR): each order's totals checked to the minor unit in
the order and in the authorisation the payment sandbox made."""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # conftest is not importable at run time (pytest's importlib mode); its types are for mypy
    from conftest import B2bVariants, Backstage, NewShopper, Shopper

pytestmark = [
    pytest.mark.skipif(os.environ.get("SHOP_SKIP_LAUNCHER_TEST") == "1", reason="SHOP_SKIP_LAUNCHER_TEST=1 was set"),
    pytest.mark.timeout(600),
]

GOOD_CARD = "4242424242424242"
CALIFORNIA = {
    "name": "Ada Lovelace",
    "line1": "1 Market St",
    "city": "San Francisco",
    "region": "CA",
    "postal_code": "94105",
    "country": "US",
}
NEW_YORK = {**CALIFORNIA, "line1": "550 Broadway", "city": "New York", "region": "NY", "postal_code": "10012"}
BERLIN = {
    "name": "Ada Lovelace",
    "line1": "Rosenthaler Str. 40",
    "city": "Berlin",
    "postal_code": "10178",
    "country": "DE",
}


EXPRESS_FREE_FROM = 25_000  # US express ships free from 250.00 USD (pricing's demo)


def half_up(numerator: int, denominator: int) -> int:
    quotient, remainder = divmod(numerator, denominator)
    return quotient + (1 if remainder * 2 >= denominator else 0)


def vat_in(gross: int, rate_bp: int) -> int:
    """The part of a tax-inclusive amount that is tax."""
    return gross - half_up(gross * 10_000, 10_000 + rate_bp)


def money(amount: int, currency: str) -> dict[str, Any]:
    return {"amount": amount, "currency": currency}


def a_variant(shopper: Shopper, backstage: Backstage, below: int | None = None) -> dict[str, Any]:
    """A variant of the demo catalog with a price (under `below` minor units, when given) and stock at a
    warehouse (the search `trail`). Other tests buy these too, so which one comes first varies."""
    found = shopper.get("/v1/products", query="trail", page_size=20)
    assert found.status_code == 200, found.text
    return next(
        variant
        for product in found.json()["products"]
        for variant in product["variants"]
        if variant["price"]
        and (below is None or variant["price"]["amount"] < below)
        and sum(backstage.stock(variant["sku"]).values()) >= 10
    )


def placed_order(shopper: Shopper, backstage: Backstage, **fields: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check out the shopper's cart; the order as the shopper sees it, and the sandbox's authorisation."""
    placed = shopper.checkout(shopper.card(GOOD_CARD), **fields)
    assert placed.status_code == 201, placed.text
    answer = placed.json()
    assert answer["status"] == "completed", answer
    order = shopper.get(f"/v1/orders/{answer['order_id']}")
    assert order.status_code == 200, order.text
    authorisation = backstage.authorization(backstage.order(answer["order_id"]).payment.authorisation_id)
    checkout = shopper.get(f"/v1/checkout/{answer['checkout_id']}").json()
    assert checkout["totals"] == order.json()["totals"], checkout
    return order.json(), authorisation


def test_a_us_order_adds_sales_tax_of_the_shipping_state(new_shopper: NewShopper, backstage: Backstage) -> None:
    shopper = new_shopper("californian")
    # Two units under 250.00: express is free from there (the demo's rule), and this test prices it.
    variant = a_variant(shopper, backstage, below=EXPRESS_FREE_FROM // 2)
    cart = shopper.add_to_cart(variant["sku"], 2)
    subtotal = cart["subtotal"]["amount"]
    options = shopper.get("/v1/cart/shipping-options", country="US", region="CA", postal_code="94105")
    assert options.status_code == 200, options.text
    offered = {o["code"]: o["price"]["amount"] for o in options.json()["options"]}
    assert offered["standard"] == 0 and offered["express"] > 0, offered
    express = offered["express"]
    tax = half_up(subtotal * 725, 10_000)  # CA: 7.25 % added, shipping not taxed
    estimate = shopper.get("/v1/cart/shipping-options", country="US", region="CA", shipping_method="express").json()
    assert estimate["totals"]["total"] == money(subtotal + express + tax, "USD"), estimate

    order, authorisation = placed_order(shopper, backstage, shipping_address=CALIFORNIA, shipping_method="express")

    totals = order["totals"]
    assert totals["subtotal"] == money(subtotal, "USD")
    assert (totals["shipping_total"], totals["tax_total"]) == (money(express, "USD"), money(tax, "USD"))
    assert totals["total"] == money(subtotal + express + tax, "USD") and totals["tax_included"] is False
    assert [line["tax"] for line in order["lines"]] == [money(tax, "USD")]
    assert (authorisation["amount"], authorisation["currency"]) == (subtotal + express + tax, "USD")
    assert authorisation["amount_captured"] == subtotal + express + tax


def test_a_german_order_includes_vat_in_its_prices(new_shopper: NewShopper, backstage: Backstage) -> None:
    shopper = new_shopper("berliner", claims={"currency": "EUR", "country": "DE"}, ip_country="DE")
    variant = a_variant(shopper, backstage)
    cart = shopper.add_to_cart(variant["sku"], 1)
    assert cart["currency"] == "EUR", cart
    subtotal = cart["subtotal"]["amount"]
    shipping = 0 if subtotal >= 6000 else 490  # free standard shipping from 60.00 EUR
    options = shopper.get("/v1/cart/shipping-options", country="DE", postal_code="10178").json()
    assert options["shipping_method"] == "standard" and options["tax_name"] == "VAT", options
    line_tax, shipping_tax = vat_in(subtotal, 1900), vat_in(shipping, 1900)

    order, authorisation = placed_order(shopper, backstage, shipping_address=BERLIN, billing_address=BERLIN)

    totals = order["totals"]
    assert totals["tax_included"] is True
    assert (totals["subtotal"], totals["shipping_total"]) == (money(subtotal, "EUR"), money(shipping, "EUR"))
    assert totals["tax_total"] == money(line_tax + shipping_tax, "EUR")
    assert totals["total"] == money(subtotal + shipping, "EUR")  # the tax is in the prices, not on top
    assert [line["tax"] for line in order["lines"]] == [money(line_tax, "EUR")]
    assert (authorisation["amount"], authorisation["currency"]) == (subtotal + shipping, "EUR")


def test_a_pickup_has_no_shipping_and_is_taxed_where_the_store_is(
    new_shopper: NewShopper, backstage: Backstage
) -> None:
    shopper = new_shopper("collector-ny")
    store = "st-us-nyc-soho"  # the demo's New York store: NY sales tax, 4 %
    variant = next(
        v
        for p in shopper.get("/v1/products", query="trail", page_size=20).json()["products"]
        for v in p["variants"]
        if v["price"] and backstage.stock(v["sku"]).get(store, 0) >= 1
    )
    cart = shopper.add_to_cart(variant["sku"], 1)
    subtotal = cart["subtotal"]["amount"]
    pickup = shopper.get("/v1/cart/shipping-options", country="US", region="NY", pickup="true").json()
    assert pickup["options"] == [] and pickup["shipping_method"] == "", pickup
    tax = half_up(subtotal * 400, 10_000)

    order, authorisation = placed_order(
        shopper,
        backstage,
        shipping_address=None,
        billing_address=NEW_YORK,
        fulfillment={"method": "pickup", "store_id": store},
    )

    totals = order["totals"]
    assert (totals["shipping_total"], totals["tax_total"]) == (money(0, "USD"), money(tax, "USD"))
    assert totals["total"] == money(subtotal + tax, "USD")
    assert authorisation["amount"] == subtotal + tax


def test_a_b2b_buyer_with_a_tax_id_is_exempt(
    new_shopper: NewShopper, backstage: Backstage, b2b_variants: B2bVariants
) -> None:
    # A company of its own: its tax id exempts every order of its members.
    account = {"account_id": f"exempt-{uuid.uuid4().hex[:8]}", "tax_id": "US-12-3456789"}
    buyer = new_shopper("b2b-exempt", role="b2b_buyer", claims=account)
    variant = b2b_variants(buyer, 10)[0]
    cart = buyer.add_to_cart(variant["sku"], 1)
    subtotal = cart["subtotal"]["amount"]
    estimate = buyer.get("/v1/cart/shipping-options", country="US", region="NY").json()
    assert estimate["tax_exempt"] is True and estimate["totals"]["tax_total"]["amount"] == 0, estimate

    order, authorisation = placed_order(buyer, backstage, shipping_address=NEW_YORK, shipping_method="standard")

    totals = order["totals"]
    assert (totals["shipping_total"], totals["tax_total"]) == (money(0, "USD"), money(0, "USD"))
    assert totals["total"] == money(subtotal, "USD") and authorisation["amount"] == subtotal
