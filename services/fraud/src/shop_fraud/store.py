"""Assessments and reviews (SQLAlchemy Core on the caller's connection; Assess's writes are driver
statements built once). The tables are in `tables`, the counters in `counters`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from shop_fraud.counters import (
    add_observations,
    cancel_order,
    denied_kinds,
    deny,
    history,
    record_order,
    sweep,
    velocity,
)
from shop_fraud.domain.policy import ReasonCode
from shop_fraud.domain.purchase import Line, Purchase
from shop_fraud.domain.reviews import Assessment, Review, ReviewStatus
from shop_fraud.domain.rules import Reason
from shop_fraud.domain.scoring import Decision, Outcome
from shop_fraud.tables import (
    KeyDigest,
    assessments,
    customer_orders,
    deny_list,
    inbox,
    metadata,
    observations,
    outbox,
    outbox_writer,
    reviews,
)
from shopkit.db import DriverConnection, DriverQuery
from shopkit.money import Money

__all__ = [
    "KeyDigest",
    "add_observations",
    "cancel_order",
    "customer_orders",
    "denied_kinds",
    "deny",
    "deny_list",
    "history",
    "inbox",
    "metadata",
    "observations",
    "outbox",
    "outbox_writer",
    "record_order",
    "sweep",
    "velocity",
]

# --- mapping -----------------------------------------------------------------------------------------


def purchase_to_json(purchase: Purchase) -> dict[str, Any]:
    data = asdict(purchase)
    data["account_created_at"] = purchase.account_created_at.isoformat() if purchase.account_created_at else None
    return data


def purchase_from_json(data: dict[str, Any]) -> Purchase:
    created = data.get("account_created_at")
    return Purchase(
        email=data["email"],
        amount=Money(**data["amount"]),
        ip=data["ip"],
        lines=tuple(Line(line["sku"], line["quantity"], Money(**line["unit_price"])) for line in data.get("lines", [])),
        customer_id=data.get("customer_id", ""),
        account_id=data.get("account_id", ""),
        account_created_at=datetime.fromisoformat(created) if created else None,
        ip_country=data.get("ip_country", ""),
        device_id=data.get("device_id", ""),
        card_fingerprint=data.get("card_fingerprint", ""),
        card_country=data.get("card_country", ""),
        billing_country=data.get("billing_country", ""),
        shipping_country=data.get("shipping_country", ""),
        channel=data.get("channel", ""),
    )


def _reasons_to_json(reasons: Sequence[Reason]) -> list[dict[str, Any]]:
    return [{"code": r.code.value, "weight": r.weight, "detail": r.detail} for r in reasons]


def _assessment(row: Any) -> Assessment:
    reasons = tuple(Reason(ReasonCode(r["code"]), r["weight"], r["detail"]) for r in row.reasons)
    outcome = Outcome(row.score, Decision(row.decision), reasons, row.rule_score, row.model_score)
    return Assessment(
        assessment_id=row.id,
        checkout_id=row.checkout_id,
        purchase=purchase_from_json(row.context),
        outcome=outcome,
        model_version=row.model_version,
        assessed_at=row.assessed_at,
        review_id=row.review_id,
    )


def _review(row: Any) -> Review:
    return Review(
        review_id=row.id,
        status=ReviewStatus(row.status),
        assessment_id=row.assessment_id,
        checkout_id=row.checkout_id,
        created_at=row.created_at,
        decided_by=row.decided_by,
        note=row.note,
        decided_at=row.decided_at,
    )


# --- assessments ---------------------------------------------------------------------------------------

_ASSESSMENT_QUERY = sa.select(*assessments.c, reviews.c.id.label("review_id")).select_from(
    assessments.outerjoin(reviews, reviews.c.assessment_id == assessments.c.id)
)


async def find_assessment(
    conn: AsyncConnection, *, assessment_id: uuid.UUID | None = None, checkout_id: str | None = None
) -> Assessment | None:
    query = _ASSESSMENT_QUERY
    if assessment_id is not None:
        query = query.where(assessments.c.id == assessment_id)
    if checkout_id is not None:
        query = query.where(assessments.c.checkout_id == checkout_id)
    row = (await conn.execute(query)).first()
    return _assessment(row) if row else None


_INSERT_ASSESSMENT = DriverQuery(
    insert(assessments)
    .values({column.name: sa.bindparam(column.name) for column in assessments.c})
    .on_conflict_do_nothing(index_elements=[assessments.c.checkout_id])
)


async def insert_assessment(conn: DriverConnection, assessment: Assessment) -> bool:
    """Insert unless the checkout was assessed already (then a concurrent call won); True when inserted."""
    outcome, purchase = assessment.outcome, assessment.purchase
    inserted = await conn.execute(
        _INSERT_ASSESSMENT,
        id=assessment.assessment_id,
        checkout_id=assessment.checkout_id,
        customer_id=purchase.customer_id,
        amount=purchase.amount.amount,
        currency=purchase.amount.currency,
        score=outcome.score,
        rule_score=outcome.rule_score,
        model_score=outcome.model_score,
        decision=outcome.decision.value,
        reasons=_reasons_to_json(outcome.reasons),
        model_version=assessment.model_version,
        context=purchase_to_json(purchase),
        assessed_at=assessment.assessed_at,
    )
    return inserted == 1


# --- reviews -------------------------------------------------------------------------------------------


_INSERT_REVIEW = DriverQuery(
    reviews.insert().values(
        {name: sa.bindparam(name) for name in ("id", "assessment_id", "checkout_id", "status", "created_at")}
    )
)


async def insert_review(conn: DriverConnection, review: Review) -> None:
    await conn.execute(
        _INSERT_REVIEW,
        id=review.review_id,
        assessment_id=review.assessment_id,
        checkout_id=review.checkout_id,
        status=review.status.value,
        created_at=review.created_at,
    )


async def get_review(conn: AsyncConnection, review_id: uuid.UUID) -> Review | None:
    row = (await conn.execute(sa.select(reviews).where(reviews.c.id == review_id))).first()
    return _review(row) if row else None


async def close_review(
    conn: AsyncConnection, review_id: uuid.UUID, status: ReviewStatus, *, decided_by: str, note: str, now: datetime
) -> Review | None:
    """Decide an OPEN review (one conditional statement); None when it is not open (or does not exist)."""
    row = (
        await conn.execute(
            reviews.update()
            .where(reviews.c.id == review_id, reviews.c.status == ReviewStatus.OPEN.value)
            .values(status=status.value, decided_by=decided_by, note=note, decided_at=now)
            .returning(*reviews.c)
        )
    ).first()
    return _review(row) if row else None


async def cancel_reviews_of_checkout(conn: AsyncConnection, checkout_id: str, now: datetime) -> list[Review]:
    rows = await conn.execute(
        reviews.update()
        .where(reviews.c.checkout_id == checkout_id, reviews.c.status == ReviewStatus.OPEN.value)
        .values(status=ReviewStatus.CANCELLED.value, decided_by="checkout", note="the checkout ended", decided_at=now)
        .returning(*reviews.c)
    )
    return [_review(row) for row in rows]


QueueCursor = tuple[bool, datetime, uuid.UUID]


async def list_reviews(
    conn: AsyncConnection, statuses: Sequence[ReviewStatus], *, after: QueueCursor | None, limit: int
) -> list[Review]:
    """Reviews in the given statuses, OPEN first, then oldest first; keyset pagination after `after`."""
    closed = reviews.c.status != ReviewStatus.OPEN.value
    query = (
        sa.select(reviews)
        .where(reviews.c.status.in_([s.value for s in statuses]))
        .order_by(sa.text("(status <> 'open')"), reviews.c.created_at, reviews.c.id)
        .limit(limit)
    )
    if after is not None:
        closed_after, created_after, id_after = after
        query = query.where(
            sa.tuple_(closed, reviews.c.created_at, reviews.c.id)
            > sa.tuple_(
                sa.literal(closed_after),
                sa.literal(created_after, sa.DateTime(timezone=True)),
                sa.literal(id_after, UUID(as_uuid=True)),
            )
        )
    return [_review(row) for row in await conn.execute(query)]


async def assessments_by_id(conn: AsyncConnection, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Assessment]:
    if not ids:
        return {}
    rows = await conn.execute(_ASSESSMENT_QUERY.where(assessments.c.id.in_(list(ids))))
    return {row.id: _assessment(row) for row in rows}
