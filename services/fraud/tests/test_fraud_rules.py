"""The rules, scoring and the review state machine as pure functions (no I/O, a fixed clock)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shop_fraud.domain import scoring
from shop_fraud.domain.model import LogisticModel
from shop_fraud.domain.policy import ReasonCode
from shop_fraud.domain.purchase import KeyKind, Line, Purchase, network_of, normalise_email
from shop_fraud.domain.reviews import ReviewStatus, Transition, transition
from shop_fraud.domain.rules import evaluate
from shop_fraud.domain.signals import History, Signals, Velocity, WindowCounts
from shop_fraud.settings import FraudSettings
from shopkit.money import Money

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
POLICY = replace(FraudSettings().policy(), high_risk_countries=frozenset({"ZZ"}))
C = ReasonCode


def purchase(**fields: Any) -> Purchase:
    values: dict[str, Any] = {
        "email": "ada@example.com",
        "amount": Money(5_000, "USD"),
        "ip": "192.0.2.10",
        "lines": (Line("SHOE-42", 1, Money(5_000, "USD")),),
        "customer_id": "cust-1",
        "account_created_at": NOW - timedelta(days=400),
        "ip_country": "DE",
        "device_id": "dev-1",
        "card_fingerprint": "card-1",
        "card_country": "DE",
        "billing_country": "DE",
        "shipping_country": "DE",
        "channel": "web",
    }
    values.update(fields)
    return Purchase(**values)


def velocity(kind: KeyKind, hour: int = 0, day: int = 0, week: int = 0) -> Velocity:
    return Velocity(counts={kind: WindowCounts(hour, max(day, hour), max(week, day, hour))})


def signals(p: Purchase | None = None, **fields: Any) -> Signals:
    return Signals(purchase=p or purchase(), now=NOW, **fields)


GUEST = {"customer_id": "", "account_created_at": None}

# name, signals, the exact reason codes expected
CASES: list[tuple[str, Signals, set[ReasonCode]]] = [
    ("clean order", signals(), set()),
    ("clean guest, small order", signals(purchase(**GUEST)), set()),
    ("high amount, old account", signals(purchase(amount=Money(100_000, "USD"))), {C.HIGH_AMOUNT}),
    ("just below the high amount", signals(purchase(amount=Money(99_999, "USD"))), set()),
    ("high amount in yen", signals(purchase(amount=Money(150_000, "JPY"))), {C.HIGH_AMOUNT}),
    (
        "new account, high value",
        signals(purchase(account_created_at=NOW - timedelta(days=2), amount=Money(60_000, "USD"))),
        {C.NEW_ACCOUNT},
    ),
    ("new account, small order", signals(purchase(account_created_at=NOW - timedelta(days=2))), set()),
    ("guest, high value", signals(purchase(amount=Money(50_000, "USD"), **GUEST)), {C.NEW_ACCOUNT}),
    ("ip country differs", signals(purchase(ip_country="US")), {C.IP_COUNTRY_MISMATCH}),
    ("ip country unknown", signals(purchase(ip_country="")), set()),
    ("card country differs", signals(purchase(card_country="US")), {C.CARD_COUNTRY_MISMATCH}),
    ("shipping elsewhere", signals(purchase(shipping_country="FR")), {C.BILLING_SHIPPING_MISMATCH}),
    ("customer velocity", signals(velocity=velocity(KeyKind.CUSTOMER, hour=3)), {C.CUSTOMER_VELOCITY}),
    ("customer at the limit", signals(velocity=velocity(KeyKind.CUSTOMER, hour=2)), set()),
    ("email velocity", signals(velocity=velocity(KeyKind.EMAIL, day=8)), {C.CUSTOMER_VELOCITY}),
    ("ip velocity", signals(velocity=velocity(KeyKind.IP, hour=5)), {C.IP_VELOCITY}),
    ("device velocity", signals(velocity=velocity(KeyKind.DEVICE, week=20)), {C.DEVICE_VELOCITY}),
    (
        "device velocity without a device",
        signals(purchase(device_id=""), velocity=velocity(KeyKind.DEVICE, week=20)),
        set(),
    ),
    ("card velocity", signals(velocity=velocity(KeyKind.CARD, hour=3)), {C.CARD_VELOCITY}),
    ("many cards on the device", signals(velocity=Velocity(other_cards_on_device=3)), {C.MANY_CARDS_PER_DEVICE}),
    ("a few cards on the device", signals(velocity=Velocity(other_cards_on_device=2)), set()),
    ("device shared by accounts", signals(velocity=Velocity(other_buyers_on_device=3)), {C.SHARED_DEVICE}),
    ("deny-listed card", signals(deny_listed=frozenset({KeyKind.CARD})), {C.DENY_LISTED}),
    (
        "high-risk shipping country",
        signals(purchase(shipping_country="ZZ")),
        {C.HIGH_RISK_COUNTRY, C.BILLING_SHIPPING_MISMATCH},
    ),
    ("gift cards", signals(purchase(lines=(Line("GIFTCARD-100", 1, Money(5_000, "USD")),))), {C.HIGH_RISK_ITEMS}),
    ("unusual quantity", signals(purchase(lines=(Line("MUG-3", 21, Money(200, "USD")),))), {C.UNUSUAL_QUANTITY}),
    ("bulk for b2b", signals(purchase(channel="b2b", lines=(Line("MUG-3", 500, Money(10, "USD")),))), set()),
    ("disposable email", signals(purchase(email="x@mailinator.com")), {C.DISPOSABLE_EMAIL}),
    ("disposable subdomain", signals(purchase(email="x@eu.yopmail.com")), {C.DISPOSABLE_EMAIL}),
    (
        "amount far above history",
        signals(purchase(amount=Money(5_001, "USD")), history=History(3, 1_000)),
        {C.AMOUNT_ABOVE_HISTORY},
    ),
    ("amount 5x history", signals(purchase(amount=Money(5_000, "USD")), history=History(3, 1_000)), set()),
    ("too little history", signals(purchase(amount=Money(9_000, "USD")), history=History(2, 1_000)), set()),
]


@pytest.mark.parametrize(("name", "given", "expected"), CASES, ids=[case[0] for case in CASES])
def test_each_rule_fires_with_its_reason_and_only_then(name: str, given: Signals, expected: set[ReasonCode]) -> None:
    reasons = evaluate(given, POLICY)
    assert {reason.code for reason in reasons} == expected
    for reason in reasons:
        assert reason.detail
        assert 0 < reason.weight <= POLICY.weight(reason.code)  # less only for velocity in a longer window


def test_velocity_weight_shrinks_with_the_window() -> None:
    hour = evaluate(signals(velocity=velocity(KeyKind.CARD, hour=3)), POLICY)
    day = evaluate(signals(velocity=velocity(KeyKind.CARD, day=6)), POLICY)
    week = evaluate(signals(velocity=velocity(KeyKind.CARD, week=15)), POLICY)
    assert [(r.code, r.weight) for r in hour + day + week] == [
        (C.CARD_VELOCITY, 30),
        (C.CARD_VELOCITY, 22),
        (C.CARD_VELOCITY, 15),
    ]
    assert "in 1h" in hour[0].detail and "in 24h" in day[0].detail and "in 7d" in week[0].detail
    below = signals(velocity=velocity(KeyKind.CARD, hour=2, day=5, week=14))
    assert evaluate(below, POLICY) == []


def test_reasons_come_highest_weight_first() -> None:
    given = signals(purchase(ip_country="US", shipping_country="FR", email="x@mailinator.com"))
    assert [r.code for r in evaluate(given, POLICY)] == [
        C.DISPOSABLE_EMAIL,
        C.IP_COUNTRY_MISMATCH,
        C.BILLING_SHIPPING_MISMATCH,
    ]


def test_a_weight_of_zero_disables_a_rule() -> None:
    policy = FraudSettings(rule_weights={"DISPOSABLE_EMAIL": 0}).policy()
    assert evaluate(signals(purchase(email="x@mailinator.com")), policy) == []


ZERO_MODEL = LogisticModel("test", -50.0, tuple(0.0 for _ in range(18)))  # always ~0 %
SURE_MODEL = LogisticModel("test", 50.0, tuple(0.0 for _ in range(18)))  # always ~100 %


def test_score_blends_rule_points_with_the_model() -> None:
    assert scoring.blend(60, 20, 50) == 40
    assert scoring.blend(45, 0, 50) == 23  # half up
    assert scoring.blend(80, 10, 0) == 80 and scoring.blend(80, 10, 100) == 10
    outcome = scoring.assess(signals(purchase(email="x@mailinator.com", ip_country="US")), POLICY, SURE_MODEL)
    assert (outcome.rule_score, outcome.model_score, outcome.score) == (35, 100, 68)
    assert outcome.decision is scoring.Decision.REVIEW


def test_thresholds_decide_and_the_deny_list_blocks_regardless() -> None:
    risky = signals(purchase(email="x@mailinator.com", ip_country="US", card_country="US"))  # 50 rule points
    strict = replace(POLICY, model_weight_percent=0, review_threshold=20, block_threshold=50)
    lenient = replace(POLICY, model_weight_percent=0, review_threshold=60, block_threshold=90)
    middle = replace(POLICY, model_weight_percent=0, review_threshold=40, block_threshold=75)
    assert scoring.assess(risky, strict, ZERO_MODEL).decision is scoring.Decision.BLOCK
    assert scoring.assess(risky, middle, ZERO_MODEL).decision is scoring.Decision.REVIEW
    assert scoring.assess(risky, lenient, ZERO_MODEL).decision is scoring.Decision.ALLOW
    denied = scoring.assess(signals(deny_listed=frozenset({KeyKind.DEVICE})), lenient, ZERO_MODEL)
    assert denied.decision is scoring.Decision.BLOCK


def test_settings_reject_thresholds_out_of_order() -> None:
    with pytest.raises(ValueError, match="review_threshold must be below block_threshold"):
        FraudSettings(review_threshold=80, block_threshold=70)
    with pytest.raises(ValueError, match="unknown reason codes"):
        FraudSettings(rule_weights={"NOPE": 1})
    with pytest.raises(ValueError, match="three positive limits"):
        FraudSettings(velocity_limits={"ip": [1, 2]})


@pytest.mark.parametrize(
    ("current", "wanted", "expected"),
    [
        (ReviewStatus.OPEN, ReviewStatus.APPROVED, Transition.APPLY),
        (ReviewStatus.OPEN, ReviewStatus.REJECTED, Transition.APPLY),
        (ReviewStatus.APPROVED, ReviewStatus.APPROVED, Transition.UNCHANGED),
        (ReviewStatus.REJECTED, ReviewStatus.REJECTED, Transition.UNCHANGED),
        (ReviewStatus.APPROVED, ReviewStatus.REJECTED, Transition.CLOSED),
        (ReviewStatus.REJECTED, ReviewStatus.APPROVED, Transition.CLOSED),
        (ReviewStatus.CANCELLED, ReviewStatus.APPROVED, Transition.CLOSED),
    ],
)
def test_review_transitions(current: ReviewStatus, wanted: ReviewStatus, expected: Transition) -> None:
    assert transition(current, wanted) is expected


def test_counter_keys_are_normalised() -> None:
    assert normalise_email(" A.Da+shop@GoogleMail.com ") == "ada@gmail.com"
    assert normalise_email("a.da+x@example.com") == "a.da@example.com"
    assert network_of("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert network_of("::ffff:192.0.2.1") == "192.0.2.1"
    assert network_of("192.0.2.1") == "192.0.2.1"
