"""The tunable part of scoring: thresholds, limits and rule weights (built from the settings)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from shop_fraud.domain.purchase import KeyKind
from shopkit.money import MINOR_UNITS


class ReasonCode(Enum):
    """Mirrors shop.fraud.v1.ReasonCode (the names without the REASON_CODE_ prefix)."""

    HIGH_AMOUNT = "HIGH_AMOUNT"
    NEW_ACCOUNT = "NEW_ACCOUNT"
    IP_COUNTRY_MISMATCH = "IP_COUNTRY_MISMATCH"
    CARD_COUNTRY_MISMATCH = "CARD_COUNTRY_MISMATCH"
    BILLING_SHIPPING_MISMATCH = "BILLING_SHIPPING_MISMATCH"
    CUSTOMER_VELOCITY = "CUSTOMER_VELOCITY"
    IP_VELOCITY = "IP_VELOCITY"
    DEVICE_VELOCITY = "DEVICE_VELOCITY"
    CARD_VELOCITY = "CARD_VELOCITY"
    MANY_CARDS_PER_DEVICE = "MANY_CARDS_PER_DEVICE"
    DENY_LISTED = "DENY_LISTED"
    HIGH_RISK_COUNTRY = "HIGH_RISK_COUNTRY"
    HIGH_RISK_ITEMS = "HIGH_RISK_ITEMS"
    UNUSUAL_QUANTITY = "UNUSUAL_QUANTITY"
    DISPOSABLE_EMAIL = "DISPOSABLE_EMAIL"
    SHARED_DEVICE = "SHARED_DEVICE"
    AMOUNT_ABOVE_HISTORY = "AMOUNT_ABOVE_HISTORY"


# Points each reason adds to the rule score. Velocity reasons get their full weight for the 1 h
# window and a share of it for the longer windows (VELOCITY_WINDOW_PERCENT).
DEFAULT_WEIGHTS: dict[ReasonCode, int] = {
    ReasonCode.HIGH_AMOUNT: 15,
    ReasonCode.NEW_ACCOUNT: 20,
    ReasonCode.IP_COUNTRY_MISMATCH: 15,
    ReasonCode.CARD_COUNTRY_MISMATCH: 15,
    ReasonCode.BILLING_SHIPPING_MISMATCH: 10,
    ReasonCode.CUSTOMER_VELOCITY: 25,
    ReasonCode.IP_VELOCITY: 20,
    ReasonCode.DEVICE_VELOCITY: 20,
    ReasonCode.CARD_VELOCITY: 30,
    ReasonCode.MANY_CARDS_PER_DEVICE: 25,
    ReasonCode.DENY_LISTED: 100,
    ReasonCode.HIGH_RISK_COUNTRY: 20,
    ReasonCode.HIGH_RISK_ITEMS: 10,
    ReasonCode.UNUSUAL_QUANTITY: 10,
    ReasonCode.DISPOSABLE_EMAIL: 20,
    ReasonCode.SHARED_DEVICE: 25,
    ReasonCode.AMOUNT_ABOVE_HISTORY: 25,
}


@dataclass(frozen=True)
class Limits:
    """Most purchases allowed per window (counting the one being assessed); more fires the rule."""

    hour: int
    day: int
    week: int


DEFAULT_VELOCITY_LIMITS: dict[KeyKind, Limits] = {
    KeyKind.CUSTOMER: Limits(hour=3, day=8, week=20),
    KeyKind.EMAIL: Limits(hour=3, day=8, week=20),
    KeyKind.IP: Limits(hour=5, day=15, week=40),
    KeyKind.DEVICE: Limits(hour=3, day=8, week=20),
    KeyKind.CARD: Limits(hour=3, day=6, week=15),
}

# High-value threshold per currency in minor units; other currencies use DEFAULT_HIGH_AMOUNT_MAJOR.
DEFAULT_HIGH_AMOUNTS: dict[str, int] = {
    "USD": 100_000,
    "EUR": 100_000,
    "GBP": 80_000,
    "CHF": 100_000,
    "CAD": 130_000,
    "AUD": 150_000,
    "SEK": 1_000_000,
    "NOK": 1_000_000,
    "DKK": 700_000,
    "PLN": 400_000,
    "JPY": 150_000,
}
DEFAULT_HIGH_AMOUNT_MAJOR = 1_000


@dataclass(frozen=True)
class Policy:
    review_threshold: int = 40
    block_threshold: int = 75
    model_weight_percent: int = 50  # share of the model in the blended score
    weights: Mapping[ReasonCode, int] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    velocity_limits: Mapping[KeyKind, Limits] = field(default_factory=lambda: dict(DEFAULT_VELOCITY_LIMITS))
    velocity_window_percent: tuple[int, int, int] = (100, 75, 50)  # weight share for a 1 h / 24 h / 7 d breach
    high_amounts: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_HIGH_AMOUNTS))
    high_amount_default_major: int = DEFAULT_HIGH_AMOUNT_MAJOR
    new_account_days: int = 7
    new_account_amount_percent: int = 50  # "high value" for a new account: this share of the high amount
    device_cards_limit: int = 3  # distinct cards on one device in 7 d (with this one); more fires
    device_buyers_limit: int = 3  # distinct accounts/guest emails on one device in 7 d (with this one)
    history_multiple: int = 5  # amount above this multiple of the customer's median order fires
    history_min_orders: int = 3  # fewer past orders are no history to compare with
    unusual_quantity: int = 20  # a line quantity above this fires (not for channel b2b)
    high_risk_countries: frozenset[str] = frozenset()
    high_risk_sku_prefixes: tuple[str, ...] = ("GIFT", "GC-")
    disposable_domains: frozenset[str] = frozenset()

    def weight(self, code: ReasonCode) -> int:
        return self.weights.get(code, DEFAULT_WEIGHTS[code])

    def high_amount(self, currency: str) -> int:
        """The high-value threshold of a currency, in its minor units."""
        if currency in self.high_amounts:
            return self.high_amounts[currency]
        return self.high_amount_default_major * int(10 ** MINOR_UNITS.get(currency, 2))

    def is_disposable(self, domain: str) -> bool:
        """The domain or any parent domain is on the list (throw-away providers hand out subdomains)."""
        parts = domain.lower().split(".")
        return any(".".join(parts[i:]) in self.disposable_domains for i in range(len(parts) - 1))
