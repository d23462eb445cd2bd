"""The fraud service's tables (SQLAlchemy Core).

Velocity counters are an append-only `observations` table: one row per (key, purchase) with the
time it happened. A window count is `count(DISTINCT ref)` over the rows of a key since the window
start, and all windows and keys of one assessment come from ONE grouped query on the index
(kind, key, at). Keys are keyed hashes (see domain.purchase.digest). The sweeper deletes rows older
than the longest window. `ref` is the checkout id, so an attempt (from Assess) and the order it
became (from shop.order.placed) count as one purchase.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import BYTEA, JSONB, UUID

from shop_fraud.domain.purchase import KeyKind
from shopkit.outbox import inbox_table, outbox_table
from shopkit.outbox_driver import OutboxWriter
from shopkit.personal_data import erasures_table

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
customer_erasures = erasures_table(metadata)
inbox = inbox_table(metadata)
outbox_writer = OutboxWriter(outbox)

KeyDigest = tuple[KeyKind, bytes]
