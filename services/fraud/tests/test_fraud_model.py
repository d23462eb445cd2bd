"""The shipped model separates clear cases, training is deterministic, and the docs match the weights."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shop_fraud.domain.model import FEATURES, LogisticModel, features
from shop_fraud.domain.purchase import KeyKind, Line, Purchase
from shop_fraud.domain.scoring import Decision, assess
from shop_fraud.domain.signals import History, Signals, Velocity, WindowCounts
from shop_fraud.settings import FraudSettings
from shop_fraud.shipped import MODEL_FILE, load_model
from shop_fraud.training import train
from shop_fraud.training.generate import generate
from shopkit.money import Money

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
POLICY = FraudSettings().policy()
DOC = Path(__file__).resolve().parents[3] / "docs" / "fraud-model.md"

CLEAN = Signals(
    purchase=Purchase(
        email="ada@example.com",
        amount=Money(4_500, "USD"),
        ip="192.0.2.10",
        lines=(Line("BOOK-123", 1, Money(4_500, "USD")),),
        customer_id="cust-1",
        account_created_at=NOW - timedelta(days=900),
        ip_country="DE",
        device_id="dev-1",
        card_fingerprint="card-1",
        card_country="DE",
        billing_country="DE",
        shipping_country="DE",
        channel="web",
    ),
    now=NOW,
    history=History(orders=12, median_amount=5_000),
)

FRAUD = Signals(
    purchase=Purchase(
        email="x1@mailinator.com",
        amount=Money(250_000, "USD"),
        ip="198.51.100.7",
        lines=(Line("GIFTCARD-100", 25, Money(10_000, "USD")),),
        ip_country="US",
        device_id="dev-9",
        card_fingerprint="card-9",
        card_country="BR",
        billing_country="DE",
        shipping_country="FR",
        channel="web",
    ),
    now=NOW,
    velocity=Velocity(
        counts={KeyKind.CARD: WindowCounts(4, 9, 12), KeyKind.IP: WindowCounts(6, 20, 30)},
        other_cards_on_device=4,
        other_buyers_on_device=5,
    ),
)


def test_shipped_weights_put_clear_cases_on_the_right_side() -> None:
    model = load_model()
    assert model.probability(features(FRAUD, POLICY)) > 0.95
    assert model.probability(features(CLEAN, POLICY)) < 0.02
    assert assess(FRAUD, POLICY, model).decision is Decision.BLOCK
    assert assess(CLEAN, POLICY, model).decision is Decision.ALLOW


def test_features_are_in_the_unit_interval() -> None:
    for sample in generate(300, seed=5):
        values = features(sample.signals, POLICY)
        assert len(values) == len(FEATURES)
        assert all(0.0 <= value <= 1.0 for value in values)


def test_same_seed_same_data_and_weights() -> None:
    assert generate(200, seed=11) == generate(200, seed=11)
    assert generate(200, seed=11) != generate(200, seed=12)
    first, again = train.train(seed=7, samples=1_500), train.train(seed=7, samples=1_500)
    assert first == again
    other = train.train(seed=8, samples=1_500)
    assert other["weights"] != first["weights"] and other["version"] != first["version"]
    model = LogisticModel.from_json(json.loads(json.dumps(first)))
    assert model.version == first["version"]


def test_model_trained_on_other_features_is_refused() -> None:
    document = json.loads((train.MODEL_PATH.parent / MODEL_FILE).read_text())
    document["features"] = document["features"][:-1]
    with pytest.raises(ValueError, match="retrain"):
        LogisticModel.from_json(document)


def test_docs_report_the_shipped_model() -> None:
    document = json.loads((train.MODEL_PATH.parent / MODEL_FILE).read_text())
    text = DOC.read_text()
    assert train.report(document) in text  # the metrics block was written from these very weights
    assert document["holdout"]["service_review_or_block"]["precision"] > 0.8
    assert document["holdout"]["service_review_or_block"]["recall"] > 0.6


def test_newton_fit_recovers_a_known_separator() -> None:
    rows = [[x / 10] for x in range(11)] * 20
    labels = [row[0] >= 0.5 for row in rows]
    fitted = train.fit(rows, labels, l2=0.1)
    model = LogisticModel("t", fitted.bias, fitted.weights)
    assert model.probability([0.9]) > 0.9 and model.probability([0.1]) < 0.1
