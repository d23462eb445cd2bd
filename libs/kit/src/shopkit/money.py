"""Money: integer minor units and an ISO-4217 currency. Never floats."""

from __future__ import annotations

import re
from dataclasses import dataclass

from shop.common.v1 import common_pb2
from shopkit.errors import Violations

_CURRENCY = re.compile(r"^[A-Z]{3}$")

# ISO-4217 exponents that differ from 2 (the default); enough for the currencies we price in.
MINOR_UNIT_EXPONENT = {"JPY": 0, "KRW": 0, "ISK": 0, "HUF": 2, "BHD": 3, "KWD": 3, "JOD": 3, "TND": 3}


def is_currency(code: str) -> bool:
    return bool(_CURRENCY.match(code))


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
