"""Shipping and tax through the saga: the quote to the ship-to address carries them into the checkout's
totals, the authorised amount and the order; an unknown method is refused before anything starts.

The methods and rules live in a zone of their own (MX, in USD) so that the other tests' orders to the
US keep their untaxed, unshipped totals."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc

from shop.checkout.v1 import checkout_pb2
from shop.common.v1 import common_pb2
from shop.pricing.v1 import pricing_pb2

if TYPE_CHECKING:
    from conftest import Shop

COMPLETED = checkout_pb2.CHECKOUT_STATUS_COMPLETED


def usd(amount: int) -> common_pb2.Money:
    return common_pb2.Money(amount=amount, currency="USD")


async def _zone(shop: Shop) -> None:
    """MX: standard 7.00 flat, express by weight (9.00 to 1 kg, 15.00 above); 16 % added in CMX, shipping taxed."""
    express = pricing_pb2.ShippingMethod(
        id="mx-express",
        code="express",
        name="Express",
        zone=pricing_pb2.ShippingZone(countries=["MX"]),
        min_delivery_days=1,
        max_delivery_days=2,
        rate_kind=pricing_pb2.SHIPPING_RATE_KIND_WEIGHT,
        active=True,
    )
    for start, price in ((0, 900), (1000, 1500)):
        band = express.bands.add(price=usd(price))
        setattr(band, "from", start)
    standard = pricing_pb2.ShippingMethod(
        id="mx-standard",
        code="standard",
        name="Standard",
        zone=pricing_pb2.ShippingZone(countries=["MX"]),
        min_delivery_days=3,
        max_delivery_days=6,
        rate_kind=pricing_pb2.SHIPPING_RATE_KIND_FLAT,
        flat_price=usd(700),
        active=True,
    )
    for method in (express, standard):
        await shop.pricing.PutShippingMethod(pricing_pb2.PutShippingMethodRequest(method=method), metadata=shop.ADMIN)
    rule = pricing_pb2.TaxRule(country="MX", region="CMX", name="IVA", rate_bp=1600, tax_shipping=True)
    await shop.pricing.PutTaxRule(pricing_pb2.PutTaxRuleRequest(rule=rule), metadata=shop.ADMIN)


def _to_mexico(request: checkout_pb2.PlaceOrderRequest) -> None:
    address = request.fulfilment.ship.address
    address.country, address.region, address.postal_code = "MX", "CMX", "06000"


async def test_a_shipped_taxed_order_carries_shipping_and_tax_everywhere(shop: Shop) -> None:
    await _zone(shop)
    buyer = shop.customer()
    sku = await shop.sku(price=1250, stock=10)
    cart_id = await shop.new_cart(buyer, {sku: 2})
    request = shop.request(cart_id, buyer, payment_method=await shop.card(), shipping_method="express")
    _to_mexico(request)

    placed = await shop.place(request, buyer)

    assert placed.status == COMPLETED, placed
    # 25.00 + express 9.00 (no weight known: the first band); 16 % of 25.00 = 4.00, of 9.00 = 1.44.
    totals = (await shop.checkout(placed.checkout_id)).totals
    assert (totals.subtotal, totals.shipping_total, totals.tax_total, totals.total) == (
        usd(2500),
        usd(900),
        usd(544),
        usd(3944),
    )
    assert not totals.tax_included
    order = await shop.get_order(placed.order_id)
    assert (order.totals.shipping_total, order.totals.tax_total, order.totals.total) == (usd(900), usd(544), usd(3944))
    assert [line.tax for line in order.lines] == [usd(400)]
    assert await shop.authorizations(placed.checkout_id) == [("captured", 3944)]
    repeat = await shop.place(request, buyer)  # the same request (shipping method included) is a repeat
    assert repeat.checkout_id == placed.checkout_id


async def test_without_a_method_the_cheapest_is_chosen(shop: Shop) -> None:
    await _zone(shop)
    buyer = shop.customer()
    sku = await shop.sku(price=1000, stock=10)
    cart_id = await shop.new_cart(buyer, {sku: 1})
    request = shop.request(cart_id, buyer, payment_method=await shop.card())
    _to_mexico(request)
    placed = await shop.place(request, buyer)
    assert placed.status == COMPLETED, placed
    totals = (await shop.checkout(placed.checkout_id)).totals
    assert (totals.shipping_total, totals.tax_total, totals.total) == (usd(700), usd(272), usd(1972))


async def test_an_unknown_or_unavailable_method_is_refused_before_anything_starts(shop: Shop) -> None:
    await _zone(shop)
    buyer = shop.customer()
    sku = await shop.sku(price=1000, stock=10)
    cart_id = await shop.new_cart(buyer, {sku: 1})
    card = await shop.card()
    for method in ("overnight", "Not A Code"):
        request = shop.request(cart_id, buyer, payment_method=card, shipping_method=method)
        _to_mexico(request)
        info = await shop.fails(shop.place(request, buyer))
        assert info.code is grpc.StatusCode.INVALID_ARGUMENT
        assert [v.field for v in info.violations] == ["shipping_method"]
    us = shop.request(cart_id, buyer, payment_method=card, shipping_method="express")  # MX's methods only
    info = await shop.fails(shop.place(us, buyer))
    assert [v.field for v in info.violations] == ["shipping_method"]
    pickup = shop.request(cart_id, buyer, payment_method=card, pickup=await shop.location(), shipping_method="standard")
    info = await shop.fails(shop.place(pickup, buyer))
    assert [v.field for v in info.violations] == ["shipping_method"]
    assert await shop.checkout_rows(cart_id=cart_id) == 0
    assert await shop.stock(sku) == {shop.warehouse: (10, 0)}
