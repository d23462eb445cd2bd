"""Assess over real gRPC: decisions, idempotency by checkout id, time windows with a moved clock,
thresholds from settings, the deny list, bad input and authorization."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING

import grpc

from shop.fraud.v1 import fraud_pb2
from shop_fraud.domain.purchase import Hasher, KeyKind
from shop_fraud.sweeper import RetentionSweeper
from shopkit.auth import metadata_for

if TYPE_CHECKING:
    from conftest import FraudService, StartFraud

ANALYST = metadata_for("fraud_analyst", customer_id="analyst-1")
CUSTOMER = metadata_for("customer", customer_id="cust-1")
R = fraud_pb2


def codes(assessment: fraud_pb2.Assessment) -> list[int]:
    return [reason.code for reason in assessment.reasons]


async def test_clean_purchase_is_allowed_and_kept_for_analysts(fraud: FraudService) -> None:
    pb = fraud.context()
    assessment = await fraud.assess(pb, checkout_id=f"co-{fraud.unique()}")
    assert assessment.decision == R.DECISION_ALLOW
    assert list(assessment.reasons) == []
    assert assessment.score == 0 and assessment.rule_score == 0 and assessment.model_score <= 2
    assert assessment.model_version.startswith("rules-1+lr-")
    assert assessment.review_id == "" and assessment.context == pb
    fetched = await fraud.stub.GetAssessment(
        R.GetAssessmentRequest(assessment_id=assessment.assessment_id), metadata=ANALYST
    )
    by_checkout = await fraud.stub.GetAssessment(
        R.GetAssessmentRequest(checkout_id=assessment.checkout_id), metadata=ANALYST
    )
    assert fetched.assessment == assessment == by_checkout.assessment


async def test_risky_purchases_are_reviewed_or_blocked(fraud: FraudService) -> None:
    reviewed = await fraud.assess(fraud.review_context())
    assert reviewed.decision == R.DECISION_REVIEW and reviewed.review_id
    assert 40 <= reviewed.score < 75
    assert codes(reviewed)[:2] == [R.REASON_CODE_NEW_ACCOUNT, R.REASON_CODE_HIGH_AMOUNT]
    assert set(codes(reviewed)) >= {R.REASON_CODE_IP_COUNTRY_MISMATCH, R.REASON_CODE_CARD_COUNTRY_MISMATCH}
    blocked = await fraud.assess(
        fraud.guest(
            amount=250_000,
            email=f"x-{fraud.unique()}@mailinator.com",
            ip_country="US",
            card_country="BR",
            shipping_country="FR",
            lines=[R.AssessedLine(sku="GIFTCARD-100", quantity=25, unit_price=fraud.money(10_000))],
        )
    )
    assert blocked.decision == R.DECISION_BLOCK and blocked.score >= 75 and blocked.review_id == ""
    weights = [reason.weight for reason in blocked.reasons]
    assert weights == sorted(weights, reverse=True)
    assert R.REASON_CODE_DISPOSABLE_EMAIL in codes(blocked)


async def test_assess_is_idempotent_by_checkout_id(fraud: FraudService) -> None:
    checkout_id = f"co-{fraud.unique()}"
    pb = fraud.review_context()
    first = await fraud.assess(pb, checkout_id=checkout_id)
    observations = await fraud.count("observations")
    # Concurrent repeats, and a repeat after the clock moved: the same answer, nothing counted again.
    repeats = await asyncio.gather(*(fraud.assess(pb, checkout_id=checkout_id) for _ in range(6)))
    fraud.clock.advance(timedelta(minutes=5))
    repeats.append(await fraud.assess(pb, checkout_id=checkout_id))
    assert all(repeat == first for repeat in repeats)
    assert await fraud.count("observations") == observations
    rows = await fraud.sql("SELECT count(*) AS n FROM outbox WHERE subject = 'shop.fraud.assessed'")
    assessed = await fraud.sql("SELECT count(*) AS n FROM assessments WHERE checkout_id = :c", c=checkout_id)
    reviews = await fraud.sql("SELECT count(*) AS n FROM reviews WHERE checkout_id = :c", c=checkout_id)
    assert assessed[0].n == 1 and reviews[0].n == 1 and rows[0].n >= 1
    # A different amount under the same checkout id is another purchase.
    other = fraud.review_context(amount=130_000)
    error = await fraud.fails(fraud.assess(other, checkout_id=checkout_id))
    assert error.code == grpc.StatusCode.ALREADY_EXISTS and error.reason == "CHECKOUT_ID_REUSED"


async def test_concurrent_first_calls_make_one_assessment(fraud: FraudService) -> None:
    checkout_id = f"co-{fraud.unique()}"
    pb = fraud.context()
    results = await asyncio.gather(*(fraud.assess(pb, checkout_id=checkout_id) for _ in range(8)))
    assert len({r.assessment_id for r in results}) == 1
    rows = await fraud.sql("SELECT count(*) AS n FROM observations WHERE ref = :c", c=checkout_id)
    assert rows[0].n == 5  # customer, email, ip, device, card: once


async def test_velocity_windows_follow_the_clock(fraud: FraudService) -> None:
    """The module's settings limit a card to 2 / 3 / 4 purchases per 1 h / 24 h / 7 d."""
    start = fraud.clock.now
    card = f"card-{fraud.unique()}"

    async def attempt() -> fraud_pb2.Assessment:
        return await fraud.assess(fraud.context(card_fingerprint=card))

    def card_reason(assessment: fraud_pb2.Assessment) -> tuple[int, str] | None:
        found = [(r.weight, r.detail) for r in assessment.reasons if r.code == R.REASON_CODE_CARD_VELOCITY]
        return found[0] if found else None

    assert card_reason(await attempt()) is None  # 1 in the hour
    fraud.clock.advance(timedelta(minutes=10))
    assert card_reason(await attempt()) is None  # 2 in the hour: at the limit
    fraud.clock.advance(timedelta(minutes=10))
    hour = card_reason(await attempt())  # 3 in the hour
    assert hour is not None and hour[0] == 30 and "3 purchases by this card in 1h (limit 2)" in hour[1]
    fraud.clock.advance(timedelta(hours=2))
    day = card_reason(await attempt())  # 1 in the hour, 4 in the day
    assert day is not None and day[0] == 22 and "4 purchases by this card in 24h (limit 3)" in day[1]
    fraud.clock.advance(timedelta(days=3))
    week = card_reason(await attempt())  # 1 in the day, 5 in the week
    assert week is not None and week[0] == 15 and "5 purchases by this card in 7d (limit 4)" in week[1]
    fraud.clock.advance(timedelta(days=6))
    assert card_reason(await attempt()) is None  # only the attempt 6 days ago is still in the week

    # The sweeper deletes what no window can see any more (and nothing younger).
    key = Hasher(fraud.settings.counter_key_secret.encode()).key(KeyKind.CARD, card)
    of_card = "SELECT count(*) AS n FROM observations WHERE kind = 'card' AND key = :key"
    assert (await fraud.sql(of_card, key=key))[0].n == 6
    sweeper = RetentionSweeper(
        fraud.runtime.db,
        fraud.clock,
        observation_retention=timedelta(days=8),
        history_retention=timedelta(days=365),
        batch_size=10_000,
        interval=1.0,
    )
    assert await sweeper.sweep_once() >= 20  # the first four attempts (5 keys each) are 9 days old
    assert (await fraud.sql(of_card, key=key))[0].n == 2
    fraud.clock.now = start


async def test_device_shared_by_accounts_and_cards(fraud: FraudService) -> None:
    device = f"dev-{fraud.unique()}"
    for _ in range(3):
        first = await fraud.assess(fraud.context(device_id=device))
    assert R.REASON_CODE_SHARED_DEVICE not in codes(first)
    fourth = await fraud.assess(fraud.context(device_id=device))
    assert {R.REASON_CODE_SHARED_DEVICE, R.REASON_CODE_MANY_CARDS_PER_DEVICE} <= set(codes(fourth))
    assert R.REASON_CODE_DEVICE_VELOCITY in codes(fourth)  # 4 purchases on the device in an hour (limit 3)


async def test_thresholds_come_from_the_settings(fraud: FraudService, start_fraud: StartFraud) -> None:
    def email() -> str:  # a fresh disposable address per call
        return f"x-{fraud.unique()}@mailinator.com"

    default = await fraud.assess(fraud.context(email=email(), ip_country="US"))
    assert default.decision == R.DECISION_ALLOW
    score = default.score
    assert 0 < score < 40
    async with start_fraud(review_threshold=score, block_threshold=90) as strict:
        held = await strict.assess(fraud.context(email=email(), ip_country="US"))
        assert (held.score, held.decision) == (score, R.DECISION_REVIEW) and held.review_id
    async with start_fraud(review_threshold=1, block_threshold=score) as harsh:
        refused = await harsh.assess(fraud.context(email=email(), ip_country="US"))
        assert (refused.score, refused.decision) == (score, R.DECISION_BLOCK)
    async with start_fraud(model_weight_percent=0) as rules_only:
        rules = await rules_only.assess(fraud.context(email=email(), ip_country="US"))
        assert rules.score == rules.rule_score == 35


async def test_a_rejected_purchase_puts_its_device_and_card_on_the_deny_list(fraud: FraudService) -> None:
    device, card = f"dev-{fraud.unique()}", f"card-{fraud.unique()}"
    reviewed = await fraud.assess(fraud.review_context(device_id=device, card_fingerprint=card))
    await fraud.stub.RejectReview(
        R.RejectReviewRequest(review_id=reviewed.review_id, note="chargeback on this card"), metadata=ANALYST
    )
    again = await fraud.assess(fraud.context(card_fingerprint=card))  # otherwise clean
    assert again.decision == R.DECISION_BLOCK
    assert [(r.code, r.detail) for r in again.reasons][:1] == [(R.REASON_CODE_DENY_LISTED, "on the deny list: card")]
    same_email = await fraud.assess(fraud.context(email=reviewed.context.email))
    assert same_email.decision == R.DECISION_ALLOW  # emails are not deny-listed (account takeover victims)


async def test_bad_input_is_rejected_with_every_violation_and_changes_nothing(fraud: FraudService) -> None:
    tables = ("assessments", "observations", "reviews", "outbox")
    before = [await fraud.count(table) for table in tables]
    pb = fraud.context(email="not-an-email", ip="300.1.1.1", ip_country="de", billing_country="DEU")
    pb.account_created_at.FromDatetime(fraud.clock() + timedelta(days=2))
    pb.lines.append(R.AssessedLine(sku="bad sku!", quantity=0, unit_price=fraud.money(-1, "usd")))
    pb.ClearField("amount")
    error = await fraud.fails(
        fraud.stub.Assess(R.AssessRequest(checkout_id="", context=pb), metadata=metadata_for("service"))
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in error.violations} == {
        "checkout_id",
        "context.email",
        "context.amount",
        "context.ip",
        "context.ip_country",
        "context.billing_country",
        "context.account_created_at",
        "context.lines[1].sku",
        "context.lines[1].quantity",
        "context.lines[1].unit_price.currency",
        "context.lines[1].unit_price.amount",
    }
    empty = await fraud.fails(fraud.stub.Assess(R.AssessRequest(checkout_id="co-1"), metadata=metadata_for("service")))
    assert [v.field for v in empty.violations] == ["context"]
    no_lines = fraud.context()
    no_lines.ClearField("lines")
    error = await fraud.fails(fraud.assess(no_lines))
    assert [v.field for v in error.violations] == ["context.lines"]
    assert [await fraud.count(table) for table in tables] == before

    lookup = await fraud.fails(fraud.stub.GetAssessment(R.GetAssessmentRequest(), metadata=ANALYST))
    assert [v.field for v in lookup.violations] == ["assessment_id"]
    missing = await fraud.fails(
        fraud.stub.GetAssessment(R.GetAssessmentRequest(checkout_id="co-never"), metadata=ANALYST)
    )
    assert missing.code == grpc.StatusCode.NOT_FOUND


async def test_only_checkout_assesses_and_only_analysts_read(fraud: FraudService) -> None:
    for metadata in (CUSTOMER, ANALYST, ()):
        error = await fraud.fails(fraud.assess(fraud.context(), metadata=metadata))
        assert error.code == grpc.StatusCode.PERMISSION_DENIED and error.reason == "ROLE_REQUIRED"
    assert (await fraud.assess(fraud.context(), metadata=metadata_for("admin"))).decision == R.DECISION_ALLOW
    error = await fraud.fails(fraud.stub.GetAssessment(R.GetAssessmentRequest(checkout_id="co-x"), metadata=CUSTOMER))
    assert error.code == grpc.StatusCode.PERMISSION_DENIED
