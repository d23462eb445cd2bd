"""Shipping options and the estimate of the caller's cart for a destination: pricing's quote of the
cart's lines (with the weights the cart keeps), the coupon, the ship-to country/region/postal code
(or a pickup) and the chosen shipping method. What checkout charges for the same input."""

from __future__ import annotations

from dataclasses import dataclass

from shop.pricing.v1 import pricing_pb2
from shop_gateway.app import mapping, models
from shop_gateway.app.access import require_cart_holder
from shop_gateway.app.cart import active_cart, buyer_context
from shop_gateway.app.errors import upstream
from shop_gateway.app.shop import Shop
from shop_gateway.principal import Principal
from shopkit.errors import FailedPrecondition, Violations
from shopkit.identifiers import check_country

MAX_POSTAL_CODE = 20
MAX_METHOD = 64
# Pricing's names for the fields a shopper sends.
FIELDS = {
    "destination.country": "country",
    "destination.region": "region",
    "destination.postal_code": "postal_code",
    "shipping_method_code": "shipping_method",
}


@dataclass
class ShippingOption:
    code: str  # what POST /v1/checkout takes as shipping_method
    name: str
    price: models.Money
    min_delivery_days: int
    max_delivery_days: int
    free: bool  # the free-shipping threshold was reached


@dataclass
class LineTax:
    sku: str
    tax: models.Money


@dataclass
class ShippingEstimate:
    """The cart's totals with shipping and tax for one destination (as checkout would charge them now)."""

    options: list[ShippingOption]
    shipping_method: str  # the chosen (or cheapest) option's code; empty for a pickup or when none
    lines: list[LineTax]
    totals: models.Totals
    tax_name: str  # e.g. "VAT", "CA sales tax"; empty when no tax applies
    tax_rate_bp: int
    tax_exempt: bool  # the B2B account's tax id exempted the order


def _option(value: pricing_pb2.ShippingOption) -> ShippingOption:
    return ShippingOption(
        code=value.code,
        name=value.name,
        price=mapping.money(value.price),
        min_delivery_days=value.min_delivery_days,
        max_delivery_days=value.max_delivery_days,
        free=value.free,
    )


async def estimate(
    shop: Shop,
    who: Principal,
    *,
    country: str,
    region: str = "",
    postal_code: str = "",
    pickup: bool = False,
    shipping_method: str = "",
) -> ShippingEstimate:
    require_cart_holder(who)
    violations = Violations()
    check_country(violations, country, "country")
    violations.check((len(region) <= 3 and region.isalnum()) or not region, "region", "must be a region code like CA")
    violations.check(len(postal_code) <= MAX_POSTAL_CODE, "postal_code", f"at most {MAX_POSTAL_CODE} characters")
    violations.check(len(shipping_method) <= MAX_METHOD, "shipping_method", f"at most {MAX_METHOD} characters")
    violations.check(not (pickup and shipping_method), "shipping_method", "a pickup takes no shipping method")
    violations.raise_if_any()
    cart = await active_cart(shop, who)
    if cart is None or not cart.lines:
        raise FailedPrecondition("there is nothing in the cart to ship", reason="CART_EMPTY")
    request = pricing_pb2.QuoteRequest(
        lines=[
            pricing_pb2.QuoteLine(sku=line.sku, quantity=line.quantity, weight_grams=line.weight_grams)
            for line in cart.lines
        ],
        context=buyer_context(shop, who, cart),
        coupon_code=cart.coupon.code if cart.HasField("coupon") else "",
        destination=pricing_pb2.Destination(
            country=country, region=region.upper(), postal_code=postal_code.strip(), pickup=pickup
        ),
        shipping_method_code=shipping_method,
        tax_id=who.tax_id if who.account_id else "",
    )
    request.context.currency = cart.context.currency or request.context.currency
    with upstream("pricing", FIELDS):
        quote = await shop.backends.pricing.Quote(request, metadata=who.metadata())
    return ShippingEstimate(
        options=[_option(o) for o in quote.shipping_options],
        shipping_method=quote.shipping.code if quote.HasField("shipping") else "",
        lines=[LineTax(line.sku, mapping.money(line.tax)) for line in quote.lines],
        totals=mapping.totals(quote),
        tax_name=quote.tax.name,
        tax_rate_bp=quote.tax.rate_bp,
        tax_exempt=quote.tax.exempt,
    )
