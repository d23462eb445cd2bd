"""Tables and repository functions (SQLAlchemy Core on the caller's connection).

Velocity counters are an append-only `observations` table: one row per (key, purchase) with the
time it happened. A window count is `count(DISTINCT ref)` over the rows of a key since the window
start, and all windows and keys of one assessment come from ONE grouped query on the index
(kind, key, at). Keys are keyed hashes (see domain.purchase.digest). The sweeper deletes rows older
than the longest window. `ref` is the checkout id, so an attempt (from Assess) and the order it
became (from shop.order.placed) count as one purchase.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import BYTEA, JSONB, UUID, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from shop_fraud.domain.policy import ReasonCode
from shop_fraud.domain.purchase import KeyKind, Line, Purchase
from shop_fraud.domain.reviews import Assessment, Review, ReviewStatus
from shop_fraud.domain.rules import Reason
from shop_fraud.domain.scoring import Decision, Outcome
from shop_fraud.domain.signals import History, Velocity, Window, WindowCounts
from shopkit.money import Money
from shopkit.outbox import inbox_table, outbox_table

metadata = sa.MetaData(
    naming_convention={
        "pk": "%(table_name)s_pkey",
        "fk": "%(table_name)s_%(column_0_name)s_fkey",
        "ck": "%(table_name)s_%(constraint_name)s_check",
        "uq": "%(table_name)s_%(column_0_name)s_key",
        "ix": "%(table_name)s_%(column_0_name)s_idx",
    }
)

_KINDS = "('customer', 'email', 'ip', 'device', 'card')"

assessments = sa.Table(
    "assessments",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("checkout_id", sa.Text, nullable=False, unique=True),
    sa.Column("customer_id", sa.Text, nullable=False, server_default=""),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("score", sa.Integer, nullable=False),
    sa.Column("rule_score", sa.Integer, nullable=False),
    sa.Column("model_score", sa.Integer, nullable=False),
    sa.Column("decision", sa.Text, nullable=False),
    sa.Column("reasons", JSONB, nullable=False),
    sa.Column("model_version", sa.Text, nullable=False),
    sa.Column("context", JSONB, nullable=False),
    sa.Column("assessed_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("score BETWEEN 0 AND 100", name="score"),
    sa.CheckConstraint("rule_score BETWEEN 0 AND 100", name="rule_score"),
    sa.CheckConstraint("model_score BETWEEN 0 AND 100", name="model_score"),
    sa.CheckConstraint("decision IN ('allow', 'review', 'block')", name="decision"),
    sa.CheckConstraint("amount >= 0", name="amount"),
)

reviews = sa.Table(
    "reviews",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("assessment_id", UUID(as_uuid=True), sa.ForeignKey("assessments.id"), nullable=False, unique=True),
    sa.Column("checkout_id", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("decided_by", sa.Text, nullable=False, server_default=""),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("decided_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint("status IN ('open', 'approved', 'rejected', 'cancelled')", name="status"),
    sa.CheckConstraint("(status = 'open') = (decided_at IS NULL)", name="decided_at"),
    # The queue: OPEN first, oldest first (ListReviews' order and keyset).
    sa.Index("reviews_queue_idx", sa.text("(status <> 'open')"), "created_at", "id"),
    sa.Index("reviews_checkout_id_idx", "checkout_id"),
)

observations = sa.Table(
    "observations",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("key", BYTEA, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("ref", sa.Text, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("buyer", BYTEA),  # device rows: who bought (distinct accounts per device)
    sa.Column("card", BYTEA),  # device rows: with which card (distinct cards per device)
    sa.CheckConstraint(f"kind IN {_KINDS}", name="kind"),
    sa.CheckConstraint("source IN ('attempt', 'order')", name="source"),
    sa.Index("observations_lookup_idx", "kind", "key", "at"),
    # Append-mostly in time order: a BRIN index keeps the retention sweep cheap at a tiny size.
    sa.Index("observations_at_idx", "at", postgresql_using="brin"),
)

# The customer's orders by amount: the history "amount far above the usual" compares with.
customer_orders = sa.Table(
    "customer_orders",
    metadata,
    sa.Column("order_id", sa.Text, primary_key=True),
    sa.Column("customer_key", BYTEA, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("cancelled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.CheckConstraint("amount >= 0", name="amount"),
    sa.Index(
        "customer_orders_history_idx",
        "customer_key",
        "currency",
        sa.text("placed_at DESC"),
        postgresql_where=sa.text("NOT cancelled"),
    ),
    sa.Index("customer_orders_placed_at_idx", "placed_at", postgresql_using="brin"),
)

# Keys (hashed like the counters) that block outright; filled from rejected reviews.
deny_list = sa.Table(
    "deny_list",
    metadata,
    sa.Column("kind", sa.Text, primary_key=True),
    sa.Column("key", BYTEA, primary_key=True),
    sa.Column("review_id", UUID(as_uuid=True)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.CheckConstraint(f"kind IN {_KINDS}", name="kind"),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)

KeyDigest = tuple[KeyKind, bytes]


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


async def insert_assessment(conn: AsyncConnection, assessment: Assessment) -> bool:
    """Insert unless the checkout was assessed already (then a concurrent call won); True when inserted."""
    outcome, purchase = assessment.outcome, assessment.purchase
    inserted = await conn.execute(
        insert(assessments)
        .values(
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
        .on_conflict_do_nothing(index_elements=[assessments.c.checkout_id])
        .returning(assessments.c.id)
    )
    return inserted.first() is not None


# --- counters ------------------------------------------------------------------------------------------


async def velocity(
    conn: AsyncConnection,
    keys: Sequence[KeyDigest],
    *,
    now: datetime,
    exclude_ref: str,
    buyer: bytes,
    card: bytes | None,
) -> Velocity:
    """Earlier purchases per key in each window up to `now`, and the other cards and buyers seen on the
    device, in one statement. `exclude_ref` (the purchase being assessed) is not counted."""
    o = observations.c
    since = {window: now - window.length for window in Window}
    is_device = o.kind == KeyKind.DEVICE.value
    query = (
        sa.select(
            o.kind,
            sa.func.count(sa.distinct(o.ref)).filter(o.at > since[Window.HOUR]).label("hour"),
            sa.func.count(sa.distinct(o.ref)).filter(o.at > since[Window.DAY]).label("day"),
            sa.func.count(sa.distinct(o.ref)).label("week"),
            sa.func.count(sa.distinct(o.card)).filter(is_device, o.card.is_distinct_from(card)).label("other_cards"),
            sa.func.count(sa.distinct(o.buyer)).filter(is_device, o.buyer != buyer).label("other_buyers"),
        )
        .where(
            sa.tuple_(o.kind, o.key).in_([(kind.value, key) for kind, key in keys]),
            o.at > since[Window.WEEK],
            o.at <= now,
            o.ref != exclude_ref,
        )
        .group_by(o.kind)
    )
    counts: dict[KeyKind, WindowCounts] = {}
    other_cards = other_buyers = 0
    for row in await conn.execute(query):
        kind = KeyKind(row.kind)
        counts[kind] = WindowCounts(hour=row.hour, day=row.day, week=row.week)
        if kind is KeyKind.DEVICE:
            other_cards, other_buyers = row.other_cards, row.other_buyers
    return Velocity(counts=counts, other_cards_on_device=other_cards, other_buyers_on_device=other_buyers)


async def add_observations(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Rows with kind (KeyKind), key, source, ref, at, amount, currency and optionally buyer and card."""
    if rows:
        await conn.execute(
            observations.insert(),
            [{"buyer": None, "card": None, **row, "kind": row["kind"].value} for row in rows],
        )


async def history(conn: AsyncConnection, customer_key: bytes, currency: str, *, now: datetime, latest: int) -> History:
    """The customer's latest orders in `currency` before `now` (cancelled ones left out): count and median."""
    c = customer_orders.c
    recent = (
        sa.select(c.amount)
        .where(c.customer_key == customer_key, c.currency == currency, sa.not_(c.cancelled), c.placed_at <= now)
        .order_by(c.placed_at.desc())
        .limit(latest)
        .subquery()
    )
    row = (
        await conn.execute(
            sa.select(
                sa.func.count().label("orders"),
                sa.func.percentile_disc(0.5).within_group(recent.c.amount).label("median"),
            )
        )
    ).one()
    return History(orders=row.orders, median_amount=int(row.median or 0))


async def record_order(
    conn: AsyncConnection, order_id: str, customer_key: bytes, amount: Money, placed_at: datetime
) -> None:
    await conn.execute(
        insert(customer_orders)
        .values(
            order_id=order_id,
            customer_key=customer_key,
            currency=amount.currency,
            amount=amount.amount,
            placed_at=placed_at,
        )
        .on_conflict_do_nothing()
    )


async def cancel_order(conn: AsyncConnection, order_id: str) -> bool:
    result = await conn.execute(
        customer_orders.update()
        .where(customer_orders.c.order_id == order_id, sa.not_(customer_orders.c.cancelled))
        .values(cancelled=True)
    )
    return bool(result.rowcount)


async def denied_kinds(conn: AsyncConnection, keys: Sequence[KeyDigest]) -> frozenset[KeyKind]:
    rows = await conn.execute(
        sa.select(deny_list.c.kind).where(
            sa.tuple_(deny_list.c.kind, deny_list.c.key).in_([(kind.value, key) for kind, key in keys])
        )
    )
    return frozenset(KeyKind(row.kind) for row in rows)


async def deny(conn: AsyncConnection, keys: Sequence[KeyDigest], review_id: uuid.UUID) -> None:
    if keys:
        await conn.execute(
            insert(deny_list)
            .values([{"kind": kind.value, "key": key, "review_id": review_id} for kind, key in keys])
            .on_conflict_do_nothing()
        )


async def sweep(conn: AsyncConnection, table: sa.Table, column: str, cutoff: datetime, limit: int) -> int:
    """Delete up to `limit` rows whose `column` is before `cutoff`; returns how many went."""
    key = next(iter(table.primary_key.columns))
    doomed = (
        sa.select(key).where(table.c[column] < cutoff).limit(limit).with_for_update(skip_locked=True).scalar_subquery()
    )
    result = await conn.execute(table.delete().where(key.in_(doomed)))
    return int(result.rowcount or 0)


# --- reviews -------------------------------------------------------------------------------------------


async def insert_review(conn: AsyncConnection, review: Review) -> None:
    await conn.execute(
        reviews.insert().values(
            id=review.review_id,
            assessment_id=review.assessment_id,
            checkout_id=review.checkout_id,
            status=review.status.value,
            created_at=review.created_at,
        )
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
