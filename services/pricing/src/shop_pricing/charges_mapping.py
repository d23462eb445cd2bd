"""Protobuf <-> domain for shipping methods, tax rules and a quote's destination (every problem at once)."""

from __future__ import annotations

import re
from datetime import datetime

from shop.pricing.v1 import pricing_pb2
from shop_pricing.domain.shipping import Destination, RateBand, RateKind, ShippingMethod, ShippingOption
from shop_pricing.domain.tax import TaxResult, TaxRule
from shop_pricing.mapping import MAX_TEXT, check_id, check_name, timestamp
from shopkit.errors import Violations
from shopkit.identifiers import check_country
from shopkit.money import Money, is_currency

MAX_COUNTRIES = 300
MAX_BANDS = 100
MAX_DAYS = 365
MAX_TAX_ID = 64
REGION = re.compile(r"^[A-Z0-9]{1,3}$")
ZONE_REGION = re.compile(r"^[A-Z]{2}-[A-Z0-9]{1,3}$")
REGION_RULE = "must be a region code like CA (ISO-3166-2 without the country)"

RATE_KINDS = {
    pricing_pb2.SHIPPING_RATE_KIND_FLAT: RateKind.FLAT,
    pricing_pb2.SHIPPING_RATE_KIND_ORDER_VALUE: RateKind.ORDER_VALUE,
    pricing_pb2.SHIPPING_RATE_KIND_WEIGHT: RateKind.WEIGHT,
}
RATE_KINDS_PB = {value: key for key, value in RATE_KINDS.items()}


def _price(message: object, field: str, currency: str, violations: Violations) -> Money:
    money = Money.from_proto(message, field, violations)  # type: ignore[arg-type]
    violations.check(
        not currency or money.currency == currency, f"{field}.currency", f"must be {currency} like the method's prices"
    )
    return money


def shipping_method(message: pricing_pb2.ShippingMethod, violations: Violations) -> ShippingMethod:
    field = "method"
    check_id(message.id, f"{field}.id", violations)
    check_id(message.code, f"{field}.code", violations)
    check_name(message.name, f"{field}.name", violations)
    countries = list(message.zone.countries)
    violations.check(0 < len(countries) <= MAX_COUNTRIES, f"{field}.zone.countries", f"must name 1-{MAX_COUNTRIES}")
    for i, country in enumerate(countries):
        check_country(violations, country, f"{field}.zone.countries[{i}]")
    for i, region in enumerate(message.zone.regions):
        ok = ZONE_REGION.match(region) is not None and region[:2] in countries
        violations.check(ok, f"{field}.zone.regions[{i}]", 'must be "CC-RR" (like US-CA) of a country of the zone')
    low, high = message.min_delivery_days, message.max_delivery_days
    violations.check(0 <= low <= high <= MAX_DAYS, f"{field}.max_delivery_days", f"must be min..{MAX_DAYS} days")
    kind = RATE_KINDS.get(message.rate_kind)
    violations.check(kind is not None, f"{field}.rate_kind", "must be FLAT, ORDER_VALUE or WEIGHT")
    # The method's currency: the first money it names; every other must match it.
    first = message.flat_price if message.HasField("flat_price") else None
    if first is None and message.bands:
        first = message.bands[0].price
    currency = first.currency if first is not None else ""
    violations.check(is_currency(currency), f"{field}.flat_price", "a rate needs a price in an ISO-4217 currency")
    flat = None
    bands: list[RateBand] = []
    if kind is RateKind.FLAT:
        violations.check(message.HasField("flat_price"), f"{field}.flat_price", "is required for FLAT")
        flat = _price(message.flat_price, f"{field}.flat_price", currency, violations)
        violations.check(not message.bands, f"{field}.bands", "are only for ORDER_VALUE and WEIGHT")
    elif kind is not None:
        violations.check(0 < len(message.bands) <= MAX_BANDS, f"{field}.bands", f"must have 1-{MAX_BANDS} bands")
        for i, band in enumerate(message.bands):
            path = f"{field}.bands[{i}]"
            if i == 0:
                violations.check(getattr(band, "from") == 0, f"{path}.from", "the first band starts at 0")
            else:
                previous = getattr(message.bands[i - 1], "from")
                violations.check(getattr(band, "from") > previous, f"{path}.from", "must ascend")
            bands.append(RateBand(getattr(band, "from"), _price(band.price, f"{path}.price", currency, violations)))
    free_over = None
    if message.HasField("free_over"):
        free_over = _price(message.free_over, f"{field}.free_over", currency, violations)
    return ShippingMethod(
        id=message.id,
        code=message.code,
        name=message.name.strip(),
        countries=frozenset(countries),
        regions=frozenset(message.zone.regions),
        min_days=low,
        max_days=high,
        rate_kind=kind or RateKind.FLAT,
        currency=currency,
        flat_price=flat,
        bands=tuple(bands),
        free_over=free_over,
        active=message.active,
    )


def shipping_method_to_pb(method: ShippingMethod, updated_at: datetime) -> pricing_pb2.ShippingMethod:
    message = pricing_pb2.ShippingMethod(
        id=method.id,
        code=method.code,
        name=method.name,
        zone=pricing_pb2.ShippingZone(countries=sorted(method.countries), regions=sorted(method.regions)),
        min_delivery_days=method.min_days,
        max_delivery_days=method.max_days,
        rate_kind=RATE_KINDS_PB[method.rate_kind],
        active=method.active,
        updated_at=timestamp(updated_at),
    )
    if method.flat_price is not None:
        message.flat_price.CopyFrom(method.flat_price.to_proto())
    for band in method.bands:
        added = message.bands.add(price=band.price.to_proto())
        setattr(added, "from", band.start)
    if method.free_over is not None:
        message.free_over.CopyFrom(method.free_over.to_proto())
    return message


def check_region(violations: Violations, region: str, field: str) -> None:
    violations.check(not region or REGION.match(region) is not None, field, REGION_RULE)


def tax_rule(message: pricing_pb2.TaxRule, violations: Violations) -> TaxRule:
    check_country(violations, message.country, "rule.country")
    check_region(violations, message.region, "rule.region")
    check_name(message.name, "rule.name", violations)
    violations.check(0 <= message.rate_bp <= 10_000, "rule.rate_bp", "must be 0..10000 basis points")
    return TaxRule(
        country=message.country,
        region=message.region,
        name=message.name.strip(),
        rate_bp=message.rate_bp,
        prices_include_tax=message.prices_include_tax,
        tax_shipping=message.tax_shipping,
        exempt_with_tax_id=message.exempt_with_tax_id,
    )


def tax_rule_to_pb(rule: TaxRule, updated_at: datetime) -> pricing_pb2.TaxRule:
    return pricing_pb2.TaxRule(
        country=rule.country,
        region=rule.region,
        name=rule.name,
        rate_bp=rule.rate_bp,
        prices_include_tax=rule.prices_include_tax,
        tax_shipping=rule.tax_shipping,
        exempt_with_tax_id=rule.exempt_with_tax_id,
        updated_at=timestamp(updated_at),
    )


def destination(request: pricing_pb2.QuoteRequest, violations: Violations) -> Destination | None:
    """The quote's destination (None: none given), and checks of the fields that go with it."""
    violations.check(len(request.tax_id) <= MAX_TAX_ID, "tax_id", f"must be at most {MAX_TAX_ID} characters")
    for i, line in enumerate(request.lines):
        violations.check(line.weight_grams >= 0, f"lines[{i}].weight_grams", "must not be negative")
    if not request.HasField("destination"):
        violations.check(not request.shipping_method_code, "shipping_method_code", "needs a destination")
        return None
    pb = request.destination
    check_country(violations, pb.country, "destination.country")
    check_region(violations, pb.region, "destination.region")
    violations.check(len(pb.postal_code) <= MAX_TEXT, "destination.postal_code", f"at most {MAX_TEXT} characters")
    violations.check(
        not (pb.pickup and request.shipping_method_code), "shipping_method_code", "a pickup has no shipping method"
    )
    return Destination(pb.country, pb.region, pb.postal_code.strip(), pb.pickup)


def option_to_pb(option: ShippingOption) -> pricing_pb2.ShippingOption:
    return pricing_pb2.ShippingOption(
        code=option.code,
        name=option.name,
        price=option.price.to_proto(),
        min_delivery_days=option.min_days,
        max_delivery_days=option.max_days,
        free=option.free,
    )


def applied_tax_to_pb(result: TaxResult) -> pricing_pb2.AppliedTax | None:
    rule = result.rule
    if rule is None:
        return None
    return pricing_pb2.AppliedTax(
        country=rule.country,
        region=rule.region,
        name=rule.name,
        rate_bp=rule.rate_bp,
        prices_include_tax=rule.prices_include_tax,
        shipping_taxed=rule.tax_shipping,
        exempt=result.exempt,
    )
