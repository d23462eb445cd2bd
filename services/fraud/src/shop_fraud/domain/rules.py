"""The rules: each looks at the signals and either fires with a weight and a detail or stays silent."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from shop_fraud.domain.policy import Policy, ReasonCode
from shop_fraud.domain.purchase import KeyKind
from shop_fraud.domain.signals import Signals, Window


@dataclass(frozen=True)
class Reason:
    code: ReasonCode
    weight: int
    detail: str


Rule = Callable[[Signals, Policy], Reason | None]


def _fire(policy: Policy, code: ReasonCode, detail: str, percent: int = 100) -> Reason:
    return Reason(code, policy.weight(code) * percent // 100, detail)


def _money(amount: int, currency: str) -> str:
    return f"{amount} {currency} minor units"


def account_age_days(signals: Signals) -> int | None:
    """Whole days since the account was created; None for a guest."""
    created = signals.purchase.account_created_at
    return None if created is None else max(0, (signals.now - created).days)


def is_new_account(signals: Signals, policy: Policy) -> bool:
    age = account_age_days(signals)
    return age is None or age < policy.new_account_days


def high_amount(signals: Signals, policy: Policy) -> Reason | None:
    amount = signals.purchase.amount
    limit = policy.high_amount(amount.currency)
    if amount.amount < limit:
        return None
    return _fire(policy, ReasonCode.HIGH_AMOUNT, f"{_money(amount.amount, amount.currency)} >= {limit}")


def new_account(signals: Signals, policy: Policy) -> Reason | None:
    """A guest or a young account placing a high-value order (half the high amount by default)."""
    amount = signals.purchase.amount
    limit = policy.high_amount(amount.currency) * policy.new_account_amount_percent // 100
    if not is_new_account(signals, policy) or amount.amount < limit:
        return None
    age = account_age_days(signals)
    who = "guest" if age is None else f"account {age} days old"
    return _fire(policy, ReasonCode.NEW_ACCOUNT, f"{who}, {_money(amount.amount, amount.currency)} >= {limit}")


def _mismatch(code: ReasonCode, label: str, value: str, other_label: str, other: str, policy: Policy) -> Reason | None:
    if not value or not other or value == other:
        return None
    return _fire(policy, code, f"{label} {value}, {other_label} {other}")


def ip_country_mismatch(signals: Signals, policy: Policy) -> Reason | None:
    p = signals.purchase
    return _mismatch(
        ReasonCode.IP_COUNTRY_MISMATCH, "ip country", p.ip_country, "billing country", p.billing_country, policy
    )


def card_country_mismatch(signals: Signals, policy: Policy) -> Reason | None:
    p = signals.purchase
    return _mismatch(
        ReasonCode.CARD_COUNTRY_MISMATCH, "card country", p.card_country, "billing country", p.billing_country, policy
    )


def billing_shipping_mismatch(signals: Signals, policy: Policy) -> Reason | None:
    p = signals.purchase
    return _mismatch(
        ReasonCode.BILLING_SHIPPING_MISMATCH,
        "shipping country",
        p.shipping_country,
        "billing country",
        p.billing_country,
        policy,
    )


def _velocity(signals: Signals, policy: Policy, code: ReasonCode, kinds: tuple[KeyKind, ...]) -> Reason | None:
    """Fires for the shortest window in which any of `kinds` exceeds its limit (this purchase included)."""
    for window, percent in zip(Window, policy.velocity_window_percent, strict=True):
        for kind in kinds:
            limit = policy.velocity_limits[kind]
            allowed = {Window.HOUR: limit.hour, Window.DAY: limit.day, Window.WEEK: limit.week}[window]
            seen = signals.velocity.of(kind).within(window) + 1
            if seen > allowed:
                detail = f"{seen} purchases by this {kind.value} in {window.value} (limit {allowed})"
                return _fire(policy, code, detail, percent)
    return None


def customer_velocity(signals: Signals, policy: Policy) -> Reason | None:
    kinds = (KeyKind.CUSTOMER, KeyKind.EMAIL) if signals.purchase.customer_id else (KeyKind.EMAIL,)
    return _velocity(signals, policy, ReasonCode.CUSTOMER_VELOCITY, kinds)


def ip_velocity(signals: Signals, policy: Policy) -> Reason | None:
    return _velocity(signals, policy, ReasonCode.IP_VELOCITY, (KeyKind.IP,))


def device_velocity(signals: Signals, policy: Policy) -> Reason | None:
    if not signals.purchase.device_id:
        return None
    return _velocity(signals, policy, ReasonCode.DEVICE_VELOCITY, (KeyKind.DEVICE,))


def card_velocity(signals: Signals, policy: Policy) -> Reason | None:
    if not signals.purchase.card_fingerprint:
        return None
    return _velocity(signals, policy, ReasonCode.CARD_VELOCITY, (KeyKind.CARD,))


def many_cards_per_device(signals: Signals, policy: Policy) -> Reason | None:
    p = signals.purchase
    if not p.device_id:
        return None
    cards = signals.velocity.other_cards_on_device + (1 if p.card_fingerprint else 0)
    if cards <= policy.device_cards_limit:
        return None
    detail = f"{cards} different cards on this device in 7d (limit {policy.device_cards_limit})"
    return _fire(policy, ReasonCode.MANY_CARDS_PER_DEVICE, detail)


def shared_device(signals: Signals, policy: Policy) -> Reason | None:
    if not signals.purchase.device_id:
        return None
    buyers = signals.velocity.other_buyers_on_device + 1
    if buyers <= policy.device_buyers_limit:
        return None
    detail = f"{buyers} different accounts on this device in 7d (limit {policy.device_buyers_limit})"
    return _fire(policy, ReasonCode.SHARED_DEVICE, detail)


def deny_listed(signals: Signals, policy: Policy) -> Reason | None:
    if not signals.deny_listed:
        return None
    kinds = ", ".join(sorted(kind.value for kind in signals.deny_listed))
    return _fire(policy, ReasonCode.DENY_LISTED, f"on the deny list: {kinds}")


def high_risk_country(signals: Signals, policy: Policy) -> Reason | None:
    p = signals.purchase
    hits = [
        f"{label} {country}"
        for label, country in (("ip", p.ip_country), ("card", p.card_country), ("shipping", p.shipping_country))
        if country and country in policy.high_risk_countries
    ]
    return _fire(policy, ReasonCode.HIGH_RISK_COUNTRY, ", ".join(hits)) if hits else None


def has_high_risk_items(signals: Signals, policy: Policy) -> list[str]:
    prefixes = tuple(prefix.upper() for prefix in policy.high_risk_sku_prefixes)
    return [line.sku for line in signals.purchase.lines if prefixes and line.sku.upper().startswith(prefixes)]


def high_risk_items(signals: Signals, policy: Policy) -> Reason | None:
    skus = has_high_risk_items(signals, policy)
    return _fire(policy, ReasonCode.HIGH_RISK_ITEMS, "often resold: " + ", ".join(skus[:5])) if skus else None


def unusual_quantity(signals: Signals, policy: Policy) -> Reason | None:
    """Consumers rarely buy many of one thing; B2B buyers do, so their channel is exempt."""
    if signals.purchase.channel == "b2b":
        return None
    big = [line for line in signals.purchase.lines if line.quantity > policy.unusual_quantity]
    if not big:
        return None
    detail = ", ".join(f"{line.sku} x{line.quantity}" for line in big[:5]) + f" (limit {policy.unusual_quantity})"
    return _fire(policy, ReasonCode.UNUSUAL_QUANTITY, detail)


def disposable_email(signals: Signals, policy: Policy) -> Reason | None:
    domain = signals.purchase.email_domain
    return _fire(policy, ReasonCode.DISPOSABLE_EMAIL, f"domain {domain}") if policy.is_disposable(domain) else None


def amount_above_history(signals: Signals, policy: Policy) -> Reason | None:
    history, amount = signals.history, signals.purchase.amount
    if history.orders < policy.history_min_orders or history.median_amount <= 0:
        return None
    if amount.amount <= history.median_amount * policy.history_multiple:
        return None
    detail = (
        f"{_money(amount.amount, amount.currency)} is more than {policy.history_multiple}x "
        f"the median {history.median_amount} of {history.orders} past orders"
    )
    return _fire(policy, ReasonCode.AMOUNT_ABOVE_HISTORY, detail)


RULES: tuple[Rule, ...] = (
    deny_listed,
    high_amount,
    new_account,
    ip_country_mismatch,
    card_country_mismatch,
    billing_shipping_mismatch,
    customer_velocity,
    ip_velocity,
    device_velocity,
    card_velocity,
    many_cards_per_device,
    shared_device,
    high_risk_country,
    high_risk_items,
    unusual_quantity,
    disposable_email,
    amount_above_history,
)


def evaluate(signals: Signals, policy: Policy) -> list[Reason]:
    """The reasons that fired, highest weight first (ties in rule order)."""
    fired = [reason for rule in RULES if (reason := rule(signals, policy)) is not None and reason.weight > 0]
    return sorted(fired, key=lambda reason: -reason.weight)
