"""Shipping methods, their zones and rates, and the options of a quote.

Rules:
- A method serves a destination when its zone lists the destination's country and, if the zone
  names regions ("US-CA"), the destination's region among them. A method is offered only to quotes
  in its currency (its prices are money of one currency) and only while active.
- Several methods with one code may serve a destination (e.g. "standard" for a whole country and a
  cheaper one for a region): the most specific wins (region over country), then the lower id.
- The price: FLAT is flat_price; ORDER_VALUE and WEIGHT take the band with the largest `from` not
  above the measure (merchandise total after discounts in minor units, or grams). Free when the
  merchandise total reaches free_over.
- A pickup has no options and costs nothing. Options are sorted cheapest first (then by code).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from shopkit.money import Money


class RateKind(StrEnum):
    FLAT = "flat"
    ORDER_VALUE = "order_value"
    WEIGHT = "weight"


@dataclass(frozen=True, slots=True)
class RateBand:
    start: int  # minor units or grams
    price: Money


@dataclass(frozen=True, slots=True)
class ShippingMethod:
    id: str
    code: str
    name: str
    countries: frozenset[str]
    regions: frozenset[str]  # "CC-RR"; empty: every region of the countries
    min_days: int
    max_days: int
    rate_kind: RateKind
    currency: str
    flat_price: Money | None = None
    bands: tuple[RateBand, ...] = ()
    free_over: Money | None = None
    active: bool = True

    def specificity(self, country: str, region: str) -> int | None:
        """How closely the method's zone names the destination (2 region, 1 country); None: not served."""
        if country not in self.countries:
            return None
        if not self.regions:
            return 1
        return 2 if f"{country}-{region}" in self.regions else None

    def price(self, merchandise: int, grams: int) -> tuple[Money, bool]:
        """The price for a basket (merchandise total after discounts, weight); and whether it is free."""
        if self.free_over is not None and merchandise >= self.free_over.amount:
            return Money.zero(self.currency), True
        if self.rate_kind is RateKind.FLAT:
            assert self.flat_price is not None
            return self.flat_price, False
        measure = merchandise if self.rate_kind is RateKind.ORDER_VALUE else grams
        band = max((b for b in self.bands if b.start <= measure), key=lambda b: b.start)
        return band.price, False


@dataclass(frozen=True, slots=True)
class ShippingOption:
    code: str
    name: str
    price: Money
    min_days: int
    max_days: int
    free: bool


@dataclass(frozen=True, slots=True)
class Destination:
    country: str
    region: str = ""
    postal_code: str = ""
    pickup: bool = False


def shipping_options(
    methods: list[ShippingMethod], destination: Destination, currency: str, merchandise: int, grams: int
) -> list[ShippingOption]:
    """The options a basket has for a destination, cheapest first."""
    if destination.pickup:
        return []
    best: dict[str, tuple[int, str, ShippingMethod]] = {}
    for method in methods:
        if not method.active or method.currency != currency:
            continue
        rank = method.specificity(destination.country, destination.region)
        if rank is None:
            continue
        current = best.get(method.code)
        # Most specific zone first, then the lower id: deterministic whatever the store's order.
        if current is None or (-rank, method.id) < (-current[0], current[1]):
            best[method.code] = (rank, method.id, method)
    options = []
    for _, _, method in best.values():
        price, free = method.price(merchandise, grams)
        options.append(ShippingOption(method.code, method.name, price, method.min_days, method.max_days, free))
    return sorted(options, key=lambda o: (o.price.amount, o.code))


def choose(options: list[ShippingOption], code: str) -> ShippingOption | None:
    """The option named `code`, or the cheapest when no code is given; None when there is none (or no
    such code: the caller tells these apart by `code`)."""
    if not code:
        return options[0] if options else None
    return next((o for o in options if o.code == code), None)
