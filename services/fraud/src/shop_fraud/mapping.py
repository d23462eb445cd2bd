"""Protobuf <-> domain: validation of the purchase context and the messages the service answers with."""

from __future__ import annotations

import ipaddress
import re
import uuid
from datetime import UTC, datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp

from shop.common.v1 import common_pb2
from shop.fraud.v1 import fraud_pb2
from shop_fraud.domain.policy import ReasonCode
from shop_fraud.domain.purchase import Line, Purchase
from shop_fraud.domain.reviews import Assessment, Review, ReviewStatus
from shop_fraud.domain.scoring import Decision
from shopkit.errors import Violations
from shopkit.identifiers import check_country, check_request_id, check_sku
from shopkit.money import Money

MAX_LINES = 500
MAX_QUANTITY = 1_000_000
MAX_ID = 128
MAX_NOTE = 2000
MAX_EMAIL = 254
CLOCK_SKEW = timedelta(minutes=5)
# Deliberately loose: the mailbox exists or not is not ours to judge, only that it has a domain.
EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}\.)+[A-Za-z]{2,63}$")

DECISION_TO_PB = {
    Decision.ALLOW: fraud_pb2.DECISION_ALLOW,
    Decision.REVIEW: fraud_pb2.DECISION_REVIEW,
    Decision.BLOCK: fraud_pb2.DECISION_BLOCK,
}
STATUS_TO_PB = {
    ReviewStatus.OPEN: fraud_pb2.REVIEW_STATUS_OPEN,
    ReviewStatus.APPROVED: fraud_pb2.REVIEW_STATUS_APPROVED,
    ReviewStatus.REJECTED: fraud_pb2.REVIEW_STATUS_REJECTED,
    ReviewStatus.CANCELLED: fraud_pb2.REVIEW_STATUS_CANCELLED,
}
STATUS_FROM_PB = {pb: status for status, pb in STATUS_TO_PB.items()}


def reason_to_pb(code: ReasonCode) -> fraud_pb2.ReasonCode.ValueType:
    return fraud_pb2.ReasonCode.Value(f"REASON_CODE_{code.value}")


def timestamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def _money(value: Money) -> common_pb2.Money:
    return common_pb2.Money(amount=value.amount, currency=value.currency)


# --- requests ----------------------------------------------------------------------------------------


def check_uuid(violations: Violations, value: str, field: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        violations.add(field, "must be a UUID" if value else "is required")
        return None


def _check_text(violations: Violations, value: str, field: str, limit: int = MAX_ID) -> None:
    violations.check(len(value) <= limit, field, f"must be at most {limit} characters")


def check_note(violations: Violations, note: str, *, required: bool) -> None:
    violations.check(not required or bool(note.strip()), "note", "is required")
    violations.check(len(note) <= MAX_NOTE, "note", f"must be at most {MAX_NOTE} characters")


def purchase_from_pb(
    checkout_id: str, has_context: bool, pb: fraud_pb2.PurchaseContext, violations: Violations, now: datetime
) -> Purchase:
    """Validate AssessRequest's checkout id and context; problems go to `violations` with their field paths."""
    check_request_id(violations, checkout_id, "checkout_id")
    if not has_context:
        violations.add("context", "is required")
        return Purchase(email="", amount=Money(0, "XXX"), ip="", lines=())
    email = pb.email.strip()
    violations.check(
        len(email) <= MAX_EMAIL and EMAIL.match(email) is not None, "context.email", "must be an email address"
    )
    if pb.HasField("amount"):
        amount = Money.from_proto(pb.amount, "context.amount", violations)
    else:
        violations.add("context.amount", "is required")
        amount = Money(0, "XXX")
    try:
        ipaddress.ip_address(pb.ip)
    except ValueError:
        violations.add("context.ip", "must be an IPv4 or IPv6 address" if pb.ip else "is required")
    for name in ("ip_country", "card_country", "billing_country", "shipping_country"):
        check_country(violations, getattr(pb, name), f"context.{name}", optional=True)
    for name in ("customer_id", "account_id", "device_id", "card_fingerprint"):
        _check_text(violations, getattr(pb, name), f"context.{name}", 256)
    _check_text(violations, pb.channel, "context.channel", 32)
    created: datetime | None = None
    if pb.HasField("account_created_at"):
        created = pb.account_created_at.ToDatetime(tzinfo=UTC)
        violations.check(created <= now + CLOCK_SKEW, "context.account_created_at", "must not be in the future")
    violations.check(1 <= len(pb.lines) <= MAX_LINES, "context.lines", f"must have 1 to {MAX_LINES} lines")
    lines = []
    for i, line in enumerate(pb.lines[:MAX_LINES]):
        path = f"context.lines[{i}]"
        check_sku(violations, line.sku, f"{path}.sku")
        violations.check(1 <= line.quantity <= MAX_QUANTITY, f"{path}.quantity", f"must be 1 to {MAX_QUANTITY}")
        unit_price = Money.from_proto(line.unit_price, f"{path}.unit_price", violations)
        lines.append(Line(line.sku, line.quantity, unit_price))
    return Purchase(
        email=email,
        amount=amount,
        ip=pb.ip,
        lines=tuple(lines),
        customer_id=pb.customer_id,
        account_id=pb.account_id,
        account_created_at=created,
        ip_country=pb.ip_country,
        device_id=pb.device_id,
        card_fingerprint=pb.card_fingerprint,
        card_country=pb.card_country,
        billing_country=pb.billing_country,
        shipping_country=pb.shipping_country,
        channel=pb.channel,
    )


# --- responses ---------------------------------------------------------------------------------------


def purchase_to_pb(purchase: Purchase) -> fraud_pb2.PurchaseContext:
    return fraud_pb2.PurchaseContext(
        customer_id=purchase.customer_id,
        account_id=purchase.account_id,
        email=purchase.email,
        account_created_at=timestamp(purchase.account_created_at),
        amount=_money(purchase.amount),
        ip=purchase.ip,
        ip_country=purchase.ip_country,
        device_id=purchase.device_id,
        card_fingerprint=purchase.card_fingerprint,
        card_country=purchase.card_country,
        billing_country=purchase.billing_country,
        shipping_country=purchase.shipping_country,
        lines=[
            fraud_pb2.AssessedLine(sku=line.sku, quantity=line.quantity, unit_price=_money(line.unit_price))
            for line in purchase.lines
        ],
        channel=purchase.channel,
    )


def assessment_to_pb(assessment: Assessment) -> fraud_pb2.Assessment:
    outcome = assessment.outcome
    return fraud_pb2.Assessment(
        assessment_id=str(assessment.assessment_id),
        checkout_id=assessment.checkout_id,
        score=outcome.score,
        decision=DECISION_TO_PB[outcome.decision],
        reasons=[
            fraud_pb2.Reason(code=reason_to_pb(r.code), weight=r.weight, detail=r.detail) for r in outcome.reasons
        ],
        review_id=str(assessment.review_id) if assessment.review_id else "",
        model_version=assessment.model_version,
        context=purchase_to_pb(assessment.purchase),
        assessed_at=timestamp(assessment.assessed_at),
        rule_score=outcome.rule_score,
        model_score=outcome.model_score,
    )


def review_to_pb(review: Review, assessment: Assessment | None) -> fraud_pb2.Review:
    return fraud_pb2.Review(
        review_id=str(review.review_id),
        status=STATUS_TO_PB[review.status],
        assessment=assessment_to_pb(assessment) if assessment else None,
        decided_by=review.decided_by,
        note=review.note,
        created_at=timestamp(review.created_at),
        decided_at=timestamp(review.decided_at),
    )
