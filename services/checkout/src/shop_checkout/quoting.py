"""The pricing quote of a checkout: the cart's lines and weights, the destination (ship-to address or
pickup store), the shipping method and the buyer's tax id; and what the answer means for the saga.

Pricing owns shipping rates and tax rules: the quote's total, with shipping and tax, is what the
payment authorises and what the order records.
"""

from __future__ import annotations

import grpc

from shop.common.v1 import common_pb2
from shop.pricing.v1 import pricing_pb2
from shop_checkout import mapping
from shop_checkout.domain.model import CartSnapshot, PlaceOrder, Quote, QuotedLine, Ship, Totals
from shop_checkout.peers import PeerError, Peers
from shopkit import deadlines
from shopkit.errors import FieldViolation, InvalidArgument, Unavailable
from shopkit.money import Money


def quote_request(
    request: PlaceOrder, cart: CartSnapshot, destination: pricing_pb2.Destination
) -> pricing_pb2.QuoteRequest:
    context = mapping.customer_pb(request.customer)
    context.currency = cart.currency
    return pricing_pb2.QuoteRequest(
        lines=[
            pricing_pb2.QuoteLine(sku=line.sku, quantity=line.quantity, weight_grams=line.weight_grams)
            for line in cart.lines
        ],
        context=context,
        coupon_code="" if request.sales_quote_id else cart.coupon_code,  # no coupon on a quote's prices
        destination=destination,
        shipping_method_code=request.shipping_method,
        tax_id=request.tax_id if request.customer.account_id else "",
        sales_quote_id=request.sales_quote_id,
    )


def ship_destination(fulfilment: Ship) -> pricing_pb2.Destination:
    address = fulfilment.address
    return pricing_pb2.Destination(country=address.country, region=address.region, postal_code=address.postal_code)


def pickup_destination(address: common_pb2.Address, country: str) -> pricing_pb2.Destination:
    """A pickup is taxed where the store is."""
    return pricing_pb2.Destination(
        country=address.country or country, region=address.region, postal_code=address.postal_code, pickup=True
    )


async def check_shipping_method(peers: Peers, request: PlaceOrder, cart: CartSnapshot) -> None:
    """Before a checkout starts: a chosen shipping method must be among pricing's options for the
    ship-to address (INVALID_ARGUMENT on `shipping_method` otherwise), so nothing is reserved for it."""
    fulfilment = request.fulfilment
    if not request.shipping_method or not isinstance(fulfilment, Ship):
        return
    quote = quote_request(request, cart, ship_destination(fulfilment))
    try:
        await peers.call("pricing", peers.pricing.Quote, quote, seconds=deadlines.remaining(peers.timeout))
    except PeerError as exc:
        fields = {v.field: v.description for v in exc.info.violations}
        if exc.code is grpc.StatusCode.INVALID_ARGUMENT and "shipping_method_code" in fields:
            raise InvalidArgument([FieldViolation("shipping_method", fields["shipping_method_code"])]) from exc
        if exc.transient:
            raise Unavailable("prices could not be read; nothing was started", reason="PRICING_UNAVAILABLE") from exc
        # Anything else (a line pricing refuses) is the quote step's to judge, as before.


def quote_from_pb(response: pricing_pb2.QuoteResponse, cart: CartSnapshot) -> Quote:
    currency = response.total.currency or cart.currency
    zero = Money.zero(currency)

    def amount(message: common_pb2.Money) -> Money:
        return mapping.money(message) if message.currency else zero

    lines = tuple(
        QuotedLine(
            sku=quoted.sku,
            quantity=quoted.quantity,
            unit_price=mapping.money(quoted.unit_price),
            discount=amount(quoted.discount),
            line_total=mapping.money(quoted.line_total),
            product_id=cart.lines[quoted.index].product_id,
            name=cart.lines[quoted.index].name,
            tax=amount(quoted.tax),
        )
        for quoted in response.lines
    )
    applied = response.HasField("coupon") and response.coupon.applied
    totals = Totals(
        subtotal=mapping.money(response.subtotal),
        discount_total=amount(response.discount_total),
        shipping_total=amount(response.shipping_total),
        tax_total=amount(response.tax_total),
        total=mapping.money(response.total),
        tax_included=response.tax_included,
    )
    return Quote(
        lines,
        totals,
        coupon_code=response.coupon.code if applied else "",
        shipping_method=response.shipping.code if response.HasField("shipping") else "",
    )
