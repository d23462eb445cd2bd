"""Currency conversion in exact integer arithmetic.

A rate says: 1 unit of the base currency = `rate` units of the quote currency. Rates are decimal
strings (up to 12 decimals) held as exact fractions; the inverse of a stored pair is used when only
the opposite direction is set. Converting a minor-unit amount scales by the currencies' exponents
(`shopkit.money.MINOR_UNITS`, the ISO 4217 table) and rounds once, half away from zero, to the
target's minor unit: 1999 USD cents at 0.9215 EUR/USD = 1842.0785 EUR cents -> 1842.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from shopkit.money import MINOR_UNITS

MAX_RATE_DECIMALS = 12
MAX_RATE = Decimal(10) ** 9


def exponent(currency: str) -> int:
    """Digits after the decimal point of `currency` (ISO 4217; 2 for a code outside it)."""
    return MINOR_UNITS.get(currency, 2)


def parse_rate(text: str) -> Decimal | None:
    """A positive decimal with at most 12 decimals below one billion, or None when `text` is not one."""
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, ValueError):
        return None
    if not value.is_finite() or value <= 0 or value >= MAX_RATE:
        return None
    exponent_ = value.as_tuple().exponent
    if isinstance(exponent_, int) and exponent_ < -MAX_RATE_DECIMALS:
        return None
    return value


def format_rate(rate: Decimal) -> str:
    """Plain notation without trailing zeros: Decimal('0.921500') -> '0.9215'."""
    text = format(rate.normalize(), "f")
    return text


def format_money(amount: int, currency: str) -> str:
    """Minor units for people: (1999, "USD") -> "19.99 USD", (500, "JPY") -> "500 JPY"."""
    digits = exponent(currency)
    sign = "-" if amount < 0 else ""
    whole, fraction = divmod(abs(amount), 10**digits)
    text = f"{whole}.{fraction:0{digits}d}" if digits else str(whole)
    return f"{sign}{text} {currency}"


def divide_half_away_from_zero(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded to the nearest integer, ties away from zero."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    quotient, remainder = divmod(abs(numerator), denominator)
    if remainder * 2 >= denominator:
        quotient += 1
    return quotient if numerator >= 0 else -quotient


@dataclass(frozen=True, slots=True)
class ExchangeRate:
    base: str
    quote: str
    rate: Decimal

    @property
    def ratio(self) -> Fraction:
        return Fraction(self.rate)


@dataclass(frozen=True, slots=True)
class Conversion:
    """How to turn an amount in `source` into `target`: the exact ratio and how to describe it."""

    source: str
    target: str
    ratio: Fraction  # target major units per source major unit
    text: str  # the rate as shown to people, e.g. "0.9215" or "1/1.0845"


def conversion_between(source: str, target: str, rates: list[ExchangeRate]) -> Conversion | None:
    """The direct rate source->target, else the inverse of target->source, else None."""
    if source == target:
        return Conversion(source, target, Fraction(1), "1")
    for rate in rates:
        if rate.base == source and rate.quote == target:
            return Conversion(source, target, rate.ratio, format_rate(rate.rate))
    for rate in rates:
        if rate.base == target and rate.quote == source:
            return Conversion(source, target, 1 / rate.ratio, f"1/{format_rate(rate.rate)}")
    return None


def convert(amount: int, conversion: Conversion) -> int:
    """`amount` minor units of the source currency in minor units of the target currency."""
    ratio = conversion.ratio
    numerator = amount * ratio.numerator * 10 ** exponent(conversion.target)
    denominator = ratio.denominator * 10 ** exponent(conversion.source)
    return divide_half_away_from_zero(numerator, denominator)
