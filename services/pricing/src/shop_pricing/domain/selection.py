"""Which unit price a customer pays for a SKU: the deterministic price-list selection.

1. Hard filters on every tier of every price list: the list is active, its scope matches the
   customer (an empty scope field matches anyone), its validity window [valid_from, valid_to)
   contains now, the tier is in the requested currency and its min_quantity <= quantity.
2. Within one list the applicable tier with the highest min_quantity is that list's candidate
   (a list's own tiers are a schedule, not competitors). A `sale` candidate that is not below the
   base price is dropped: a sale never raises a price; an `override` (contract price) always counts.
3. Among candidates of different lists, in this order:
   - most specific scope: account > customer group > channel or country > none, then the number
     of scope fields set (account+group beats account alone). A more specific list beats a less
     specific one whatever their priorities: a B2B contract is not undercut by a storewide list;
   - higher priority;
   - lower unit price;
   - lower list id (stable tie-break).
4. No candidate: the base price (possibly converted from the reference currency).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from shop_pricing.domain.currency import Conversion, ExchangeRate, conversion_between, convert
from shopkit.money import Money


class ListKind(StrEnum):
    SALE = "sale"
    OVERRIDE = "override"


class PriceSource(StrEnum):
    BASE = "base"
    PRICE_LIST = "price_list"


@dataclass(frozen=True, slots=True)
class CustomerScope:
    """Who is buying, as far as prices care. `currency` is always resolved (never empty)."""

    currency: str
    customer_group: str = ""
    account_id: str = ""
    channel: str = ""
    country: str = ""
    customer_id: str = ""


@dataclass(frozen=True, slots=True)
class ListScope:
    """A price list's audience; empty strings match everyone."""

    account_id: str = ""
    customer_group: str = ""
    channel: str = ""
    country: str = ""
    currency: str = ""

    def matches(self, customer: CustomerScope) -> bool:
        return all(
            not wanted or wanted == actual
            for wanted, actual in (
                (self.account_id, customer.account_id),
                (self.customer_group, customer.customer_group),
                (self.channel, customer.channel),
                (self.country, customer.country),
                (self.currency, customer.currency),
            )
        )

    def specificity(self) -> tuple[int, int]:
        """(rank of the most specific field, number of audience fields set); bigger is more specific."""
        if self.account_id:
            rank = 3
        elif self.customer_group:
            rank = 2
        elif self.channel or self.country:
            rank = 1
        else:
            rank = 0
        fields_set = sum(1 for value in (self.account_id, self.customer_group, self.channel, self.country) if value)
        return rank, fields_set


def window_contains(valid_from: datetime | None, valid_to: datetime | None, now: datetime) -> bool:
    """[valid_from, valid_to): an open end is unbounded."""
    return (valid_from is None or valid_from <= now) and (valid_to is None or now < valid_to)


@dataclass(frozen=True, slots=True)
class PriceListHeader:
    id: str
    name: str
    kind: ListKind
    scope: ListScope
    priority: int = 0
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    active: bool = True

    def applies_to(self, customer: CustomerScope, now: datetime) -> bool:
        return self.active and self.scope.matches(customer) and window_contains(self.valid_from, self.valid_to, now)


@dataclass(frozen=True, slots=True)
class Tier:
    """One row of a price list: from `min_quantity` units on, `unit_amount` in `currency`."""

    price_list: PriceListHeader
    sku: str
    currency: str
    min_quantity: int
    unit_amount: int


@dataclass(frozen=True, slots=True)
class BasePrice:
    """A SKU's base unit price in the requested currency, and how it got there."""

    sku: str
    price: Money
    conversion: Conversion | None = None  # set when converted from the reference currency

    @property
    def converted_from(self) -> str:
        return self.conversion.source if self.conversion else ""


@dataclass(frozen=True, slots=True)
class SelectedPrice:
    sku: str
    quantity: int
    unit_price: Money
    base: BasePrice
    source: PriceSource
    price_list: PriceListHeader | None = None
    tier_min_quantity: int = 0

    @property
    def original_price(self) -> Money:
        return self.base.price

    def describe(self) -> str:
        if self.price_list is not None:
            text = f"price list {self.price_list.id} ({self.price_list.name}, {self.price_list.kind})"
            if self.tier_min_quantity > 1:
                text += f", tier >= {self.tier_min_quantity}"
            return text
        if self.base.conversion is not None:
            conversion = self.base.conversion
            return f"base (converted from {conversion.source} at {conversion.text})"
        return "base"


def _ranking(tier: Tier) -> tuple[int, int, int, int, str]:
    rank, fields_set = tier.price_list.scope.specificity()
    return -rank, -fields_set, -tier.price_list.priority, tier.unit_amount, tier.price_list.id


def select_price(
    base: BasePrice, quantity: int, customer: CustomerScope, tiers: Iterable[Tier], now: datetime
) -> SelectedPrice:
    """The unit price `customer` pays for `quantity` units of `base.sku` (see the module doc)."""
    best_per_list: dict[str, Tier] = {}
    for tier in tiers:
        if (
            tier.sku != base.sku
            or tier.currency != customer.currency
            or tier.min_quantity > quantity
            or not tier.price_list.applies_to(customer, now)
        ):
            continue
        current = best_per_list.get(tier.price_list.id)
        if current is None or tier.min_quantity > current.min_quantity:
            best_per_list[tier.price_list.id] = tier
    candidates = [
        tier
        for tier in best_per_list.values()
        if tier.price_list.kind is ListKind.OVERRIDE or tier.unit_amount < base.price.amount
    ]
    if not candidates:
        return SelectedPrice(base.sku, quantity, base.price, base, PriceSource.BASE)
    winner = min(candidates, key=_ranking)
    return SelectedPrice(
        base.sku,
        quantity,
        Money(winner.unit_amount, winner.currency),
        base,
        PriceSource.PRICE_LIST,
        winner.price_list,
        winner.min_quantity,
    )


def resolve_base_price(
    sku: str,
    currency: str,
    reference_currency: str,
    base_amounts: dict[tuple[str, str], int],
    rates: list[ExchangeRate],
) -> BasePrice | None:
    """The SKU's base price in `currency`; failing that its reference-currency price converted; else None."""
    amount = base_amounts.get((sku, currency))
    if amount is not None:
        return BasePrice(sku, Money(amount, currency))
    reference = base_amounts.get((sku, reference_currency))
    if reference is None:
        return None
    conversion = conversion_between(reference_currency, currency, rates)
    if conversion is None:
        return None
    return BasePrice(sku, Money(convert(reference, conversion), currency), conversion)


def price_skus(
    quantities: dict[str, int],
    customer: CustomerScope,
    reference_currency: str,
    base_amounts: dict[tuple[str, str], int],
    rates: list[ExchangeRate],
    tiers: Iterable[Tier],
    now: datetime,
) -> dict[str, SelectedPrice]:
    """Select the price of every SKU in `quantities` (SKU -> quantity); SKUs without a base price are absent."""
    tiers_by_sku: dict[str, list[Tier]] = {}
    for tier in tiers:
        tiers_by_sku.setdefault(tier.sku, []).append(tier)
    selected: dict[str, SelectedPrice] = {}
    for sku, quantity in quantities.items():
        base = resolve_base_price(sku, customer.currency, reference_currency, base_amounts, rates)
        if base is not None:
            selected[sku] = select_price(base, quantity, customer, tiers_by_sku.get(sku, ()), now)
    return selected


@dataclass(frozen=True, slots=True)
class EntryTier:
    """A price-list row as written by admins: from `min_quantity` units of `sku` on, `unit_amount`."""

    sku: str
    currency: str
    min_quantity: int
    unit_amount: int
