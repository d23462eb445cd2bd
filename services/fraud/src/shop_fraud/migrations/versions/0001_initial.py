"""Assessments, reviews, velocity observations, customer order history, deny list, outbox and inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-27

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import BYTEA, JSONB, UUID

from shopkit.outbox import create_messaging_tables

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

KINDS = "('customer', 'email', 'ip', 'device', 'card')"


def upgrade() -> None:
    op.create_table(
        "assessments",
        sa.Column("id", UUID(as_uuid=True), nullable=False),
        sa.Column("checkout_id", sa.Text, nullable=False),
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
        sa.PrimaryKeyConstraint("id", name="assessments_pkey"),
        sa.UniqueConstraint("checkout_id", name="assessments_checkout_id_key"),
        sa.CheckConstraint("score BETWEEN 0 AND 100", name="assessments_score_check"),
        sa.CheckConstraint("rule_score BETWEEN 0 AND 100", name="assessments_rule_score_check"),
        sa.CheckConstraint("model_score BETWEEN 0 AND 100", name="assessments_model_score_check"),
        sa.CheckConstraint("decision IN ('allow', 'review', 'block')", name="assessments_decision_check"),
        sa.CheckConstraint("amount >= 0", name="assessments_amount_check"),
    )
    op.create_table(
        "reviews",
        sa.Column("id", UUID(as_uuid=True), nullable=False),
        sa.Column("assessment_id", UUID(as_uuid=True), nullable=False),
        sa.Column("checkout_id", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("decided_by", sa.Text, nullable=False, server_default=""),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="reviews_pkey"),
        sa.ForeignKeyConstraint(["assessment_id"], ["assessments.id"], name="reviews_assessment_id_fkey"),
        sa.UniqueConstraint("assessment_id", name="reviews_assessment_id_key"),
        sa.CheckConstraint("status IN ('open', 'approved', 'rejected', 'cancelled')", name="reviews_status_check"),
        sa.CheckConstraint("(status = 'open') = (decided_at IS NULL)", name="reviews_decided_at_check"),
    )
    op.create_index("reviews_queue_idx", "reviews", [sa.text("(status <> 'open')"), "created_at", "id"])
    op.create_index("reviews_checkout_id_idx", "reviews", ["checkout_id"])
    op.create_table(
        "observations",
        sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("key", BYTEA, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("ref", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("buyer", BYTEA),
        sa.Column("card", BYTEA),
        sa.PrimaryKeyConstraint("id", name="observations_pkey"),
        sa.CheckConstraint(f"kind IN {KINDS}", name="observations_kind_check"),
        sa.CheckConstraint("source IN ('attempt', 'order')", name="observations_source_check"),
    )
    op.create_index("observations_lookup_idx", "observations", ["kind", "key", "at"])
    op.create_index("observations_at_idx", "observations", ["at"], postgresql_using="brin")
    op.create_table(
        "customer_orders",
        sa.Column("order_id", sa.Text, nullable=False),
        sa.Column("customer_key", BYTEA, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("order_id", name="customer_orders_pkey"),
        sa.CheckConstraint("amount >= 0", name="customer_orders_amount_check"),
    )
    op.create_index(
        "customer_orders_history_idx",
        "customer_orders",
        ["customer_key", "currency", sa.text("placed_at DESC")],
        postgresql_where=sa.text("NOT cancelled"),
    )
    op.create_index("customer_orders_placed_at_idx", "customer_orders", ["placed_at"], postgresql_using="brin")
    op.create_table(
        "deny_list",
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("key", BYTEA, nullable=False),
        sa.Column("review_id", UUID(as_uuid=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("kind", "key", name="deny_list_pkey"),
        sa.CheckConstraint(f"kind IN {KINDS}", name="deny_list_kind_check"),
    )
    create_messaging_tables(op)


def downgrade() -> None:
    for table in ("deny_list", "customer_orders", "observations", "reviews", "assessments", "inbox", "outbox"):
        op.drop_table(table)
