"""Settings of the fraud service (environment variables; `shop-fraud settings` lists them).

Dictionaries and lists are JSON in the environment, e.g.
`VELOCITY_LIMITS='{"card": [2, 4, 10]}'` or `HIGH_RISK_COUNTRIES='["XX"]'`.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, field_validator, model_validator

from shop_fraud.domain.policy import (
    DEFAULT_HIGH_AMOUNT_MAJOR,
    DEFAULT_HIGH_AMOUNTS,
    DEFAULT_VELOCITY_LIMITS,
    Limits,
    Policy,
    ReasonCode,
)
from shop_fraud.domain.purchase import KeyKind
from shop_fraud.shipped import disposable_domains
from shopkit.settings import ServiceSettings

_DEFAULTS = Policy()


class FraudSettings(ServiceSettings):
    service_name: str = Field("fraud", validation_alias="OTEL_SERVICE_NAME", description="service name in telemetry")
    grpc_port: int = Field(50057, description="gRPC port")
    metrics_port: int = Field(9107, description="Prometheus /metrics port; 0 disables it")

    review_threshold: int = Field(
        _DEFAULTS.review_threshold, ge=1, le=100, description="scores at or above this (and below block) are REVIEW"
    )
    block_threshold: int = Field(
        _DEFAULTS.block_threshold, ge=1, le=100, description="scores at or above this are BLOCK"
    )
    model_weight_percent: int = Field(
        _DEFAULTS.model_weight_percent,
        ge=0,
        le=100,
        description="share of the model's probability in the score; the rest is the rule score (0: rules only)",
    )
    rule_weights: dict[str, int] = Field(
        {},
        description='points per reason code overriding the built-in weights, e.g. {"DISPOSABLE_EMAIL": 30}; 0 disables',
    )
    velocity_limits: dict[str, list[int]] = Field(
        {},
        description="most purchases per 1h/24h/7d window per key kind (customer, email, ip, device, card), "
        'e.g. {"ip": [5, 15, 40]}',
    )
    high_amounts: dict[str, int] = Field(
        dict(DEFAULT_HIGH_AMOUNTS),
        description="high-value threshold per currency in minor units",
    )
    high_amount_default_major: int = Field(
        DEFAULT_HIGH_AMOUNT_MAJOR, ge=1, description="high-value threshold in major units for other currencies"
    )
    new_account_days: int = Field(
        _DEFAULTS.new_account_days, ge=0, description="accounts younger than this many days count as new"
    )
    new_account_amount_percent: int = Field(
        _DEFAULTS.new_account_amount_percent,
        ge=0,
        le=1000,
        description="a new account's order is high-value from this share (percent) of the high-value threshold",
    )
    device_cards_limit: int = Field(
        _DEFAULTS.device_cards_limit, ge=1, description="most distinct cards on one device in 7 days"
    )
    device_accounts_limit: int = Field(
        _DEFAULTS.device_buyers_limit,
        ge=1,
        description="most distinct accounts (or guest emails) on one device in 7 days",
    )
    history_multiple: int = Field(
        _DEFAULTS.history_multiple,
        ge=1,
        description="an amount above this multiple of the customer's median order fires",
    )
    history_min_orders: int = Field(
        _DEFAULTS.history_min_orders, ge=1, description="past orders needed before the amount is compared with them"
    )
    history_orders: int = Field(50, ge=1, le=1000, description="the customer's latest orders the median is taken over")
    history_days: int = Field(365, ge=1, description="orders older than this many days leave the customer's history")
    unusual_quantity: int = Field(
        _DEFAULTS.unusual_quantity, ge=1, description="a line quantity above this is unusual (except channel b2b)"
    )
    high_risk_countries: list[str] = Field(
        [], description="ISO-3166-1 alpha-2 countries whose IP, card or shipping adds risk"
    )
    high_risk_sku_prefixes: list[str] = Field(
        list(_DEFAULTS.high_risk_sku_prefixes),
        description="SKU prefixes of often-resold items (gift cards)",
    )
    extra_disposable_domains: list[str] = Field(
        [], description="throw-away e-mail domains in addition to the shipped list"
    )
    deny_list_on_reject: bool = Field(
        True, description="a rejected review puts the purchase's device and card on the deny list"
    )
    counter_key_secret: str = Field(
        "shop-fraud-dev-secret",
        min_length=8,
        description="HMAC key of stored counter keys (no raw emails/IPs in counters); changing it resets velocity",
    )
    observation_retention_days: int = Field(
        8, ge=7, description="velocity observations older than this are deleted (the longest window is 7 days)"
    )
    sweeper_enabled: bool = Field(True, description="run the worker that deletes expired observations and history")
    sweeper_interval_seconds: float = Field(60.0, gt=0, description="pause between sweeps when nothing was due")
    sweeper_batch_size: int = Field(5000, ge=1, le=100_000, description="rows deleted per sweeper statement")

    @field_validator("rule_weights")
    @classmethod
    def _known_codes(cls, value: dict[str, int]) -> dict[str, int]:
        names = {code.value for code in ReasonCode}
        unknown = sorted(set(value) - names)
        if unknown:
            raise ValueError(f"unknown reason codes {unknown}; known: {sorted(names)}")
        if any(weight < 0 or weight > 100 for weight in value.values()):
            raise ValueError("weights must be 0..100")
        return value

    @field_validator("velocity_limits")
    @classmethod
    def _known_kinds(cls, value: dict[str, list[int]]) -> dict[str, list[int]]:
        kinds = {kind.value for kind in KeyKind}
        for name, limits in value.items():
            if name not in kinds:
                raise ValueError(f"unknown key kind {name!r}; known: {sorted(kinds)}")
            if len(limits) != 3 or any(limit < 1 for limit in limits):
                raise ValueError(f"{name}: give three positive limits for 1h, 24h and 7d")
        return value

    @model_validator(mode="after")
    def _thresholds_in_order(self) -> Self:
        if self.review_threshold >= self.block_threshold:
            raise ValueError("review_threshold must be below block_threshold")
        return self

    def policy(self) -> Policy:
        limits = dict(DEFAULT_VELOCITY_LIMITS)
        limits.update({KeyKind(name): Limits(*values) for name, values in self.velocity_limits.items()})
        weights = dict(_DEFAULTS.weights)
        weights.update({ReasonCode(name): weight for name, weight in self.rule_weights.items()})
        return Policy(
            review_threshold=self.review_threshold,
            block_threshold=self.block_threshold,
            model_weight_percent=self.model_weight_percent,
            weights=weights,
            velocity_limits=limits,
            high_amounts=dict(self.high_amounts),
            high_amount_default_major=self.high_amount_default_major,
            new_account_days=self.new_account_days,
            new_account_amount_percent=self.new_account_amount_percent,
            device_cards_limit=self.device_cards_limit,
            device_buyers_limit=self.device_accounts_limit,
            history_multiple=self.history_multiple,
            history_min_orders=self.history_min_orders,
            unusual_quantity=self.unusual_quantity,
            high_risk_countries=frozenset(c.upper() for c in self.high_risk_countries),
            high_risk_sku_prefixes=tuple(self.high_risk_sku_prefixes),
            disposable_domains=disposable_domains() | {d.lower() for d in self.extra_disposable_domains},
        )
