"""Money: integer minor units and an ISO-4217 currency. Never floats.

The currencies and their minor units come from the ISO 4217 table as the `iso4217` package keeps it
(updated with each amendment): a currency is a code with minor units (not gold, XXX or test codes).
"""

from __future__ import annotations

from dataclasses import dataclass

from iso4217 import Currency

from shop.common.v1 import common_pb2
from shopkit.errors import Violations

# code -> digits after the decimal point (USD 2, JPY 0, KWD 3, CLF 4)
MINOR_UNITS: dict[str, int] = {c.code: c.exponent for c in Currency if c.exponent is not None}


def is_currency(code: str) -> bool:
    return code in MINOR_UNITS


def minor_units(currency: str) -> int:
    """Digits after the decimal point of an ISO-4217 currency (KeyError for a code that is not one)."""
    return MINOR_UNITS[currency]


@dataclass(frozen=True, slots=True)
class Money:
    amount: int
    currency: str

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def times(self, quantity: int) -> Money:
        return Money(self.amount * quantity, self.currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"currency mismatch: {self.currency} vs {other.currency}")

    @staticmethod
    def zero(currency: str) -> Money:
        return Money(0, currency)

    def to_proto(self) -> common_pb2.Money:
        return common_pb2.Money(amount=self.amount, currency=self.currency)

    @staticmethod
    def from_proto(
        message: common_pb2.Money, field: str, violations: Violations, *, allow_negative: bool = False
    ) -> Money:
        """Validate at the edge; problems are added to `violations` under `field`."""
        violations.check(is_currency(message.currency), f"{field}.currency", "must be an ISO-4217 code like USD")
        violations.check(allow_negative or message.amount >= 0, f"{field}.amount", "must not be negative")
        return Money(message.amount, message.currency)


def percent_of(amount: int, basis_points: int) -> int:
    """`amount * basis_points / 10_000`, rounded half away from zero, in integers only."""
    numerator = amount * basis_points
    quotient, remainder = divmod(abs(numerator), 10_000)
    if remainder * 2 >= 10_000:
        quotient += 1
    return quotient if numerator >= 0 else -quotient
