"""The learned part of scoring: a logistic regression over features derived from the signals.

`features` is the one definition used both by the training script and when serving, so the model
always sees the same inputs it was trained on. Every feature lies in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shop_fraud.domain.policy import Policy
from shop_fraud.domain.purchase import KeyKind
from shop_fraud.domain.rules import account_age_days, has_high_risk_items, is_new_account
from shop_fraud.domain.signals import Signals

FEATURES: tuple[str, ...] = (
    "amount_to_high_amount",
    "new_account",
    "account_youth",
    "ip_country_mismatch",
    "card_country_mismatch",
    "billing_shipping_mismatch",
    "disposable_email",
    "customer_purchases_24h",
    "ip_purchases_24h",
    "device_purchases_24h",
    "card_purchases_1h",
    "card_purchases_24h",
    "other_cards_on_device",
    "other_buyers_on_device",
    "amount_to_median",
    "no_history",
    "high_risk_items",
    "unusual_quantity",
)

_OLD_ACCOUNT_DAYS = 730


def _log_scale(count: int, full: int) -> float:
    """0 for 0, 1 at `full` and above, logarithmic in between (the first few repeats matter most)."""
    return min(1.0, math.log1p(max(0, count)) / math.log1p(full))


def _differs(a: str, b: str) -> float:
    return 1.0 if a and b and a != b else 0.0


def features(signals: Signals, policy: Policy) -> list[float]:
    p, velocity, history = signals.purchase, signals.velocity, signals.history
    age = account_age_days(signals)
    customer_day = max(velocity.of(KeyKind.CUSTOMER).day, velocity.of(KeyKind.EMAIL).day)
    median = history.median_amount if history.orders >= policy.history_min_orders else 0
    return [
        min(1.0, p.amount.amount / policy.high_amount(p.amount.currency) / 4),
        1.0 if is_new_account(signals, policy) else 0.0,
        1.0 if age is None else 1.0 - _log_scale(age, _OLD_ACCOUNT_DAYS),
        _differs(p.ip_country, p.billing_country),
        _differs(p.card_country, p.billing_country),
        _differs(p.shipping_country, p.billing_country),
        1.0 if policy.is_disposable(p.email_domain) else 0.0,
        _log_scale(customer_day, 20),
        _log_scale(velocity.of(KeyKind.IP).day, 30),
        _log_scale(velocity.of(KeyKind.DEVICE).day, 20) if p.device_id else 0.0,
        _log_scale(velocity.of(KeyKind.CARD).hour, 10) if p.card_fingerprint else 0.0,
        _log_scale(velocity.of(KeyKind.CARD).day, 20) if p.card_fingerprint else 0.0,
        min(1.0, velocity.other_cards_on_device / 5),
        min(1.0, velocity.other_buyers_on_device / 5),
        _log_scale(p.amount.amount // median, 20) if median > 0 else 0.0,
        1.0 if median == 0 else 0.0,
        1.0 if has_high_risk_items(signals, policy) else 0.0,
        1.0 if p.channel != "b2b" and any(line.quantity > policy.unusual_quantity for line in p.lines) else 0.0,
    ]


def sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@dataclass(frozen=True)
class LogisticModel:
    version: str
    bias: float
    weights: tuple[float, ...]

    def probability(self, x: Sequence[float]) -> float:
        return sigmoid(self.bias + math.fsum(w * v for w, v in zip(self.weights, x, strict=True)))

    def percent(self, x: Sequence[float]) -> int:
        """The probability as a whole percentage (0..100), rounded half up."""
        return min(100, int(self.probability(x) * 100 + 0.5))

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> LogisticModel:
        """Load shipped weights; a model trained on other features than this code computes is refused."""
        names = tuple(data["features"])
        if names != FEATURES:
            raise ValueError(f"model features {names} do not match the code's {FEATURES}: retrain the model")
        weights = tuple(float(w) for w in data["weights"])
        if len(weights) != len(FEATURES):
            raise ValueError("model has the wrong number of weights")
        return LogisticModel(version=str(data["version"]), bias=float(data["bias"]), weights=weights)
