"""Outbound webhooks: subscriptions, their deliveries (the webhook sender's queue) and the log of
attempts.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, UUID

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _at(name: str, nullable: bool = False) -> sa.Column:
    default = None if nullable else sa.func.now()
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, server_default=default)


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("event_types", ARRAY(sa.Text()), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("request_id", sa.Text()),
        _at("created_at"),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("id", name="webhooks_pkey"),
        sa.UniqueConstraint("request_id", name="webhooks_request_id_key"),
    )
    op.create_index("webhooks_created_idx", "webhooks", [sa.text("created_at DESC"), sa.text("id DESC")])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", UUID(as_uuid=True)),
        sa.Column("webhook_id", UUID(as_uuid=True), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text(), nullable=False, server_default=""),
        _at("created_at"),
        _at("next_attempt_at"),
        _at("delivered_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="webhook_deliveries_pkey"),
        sa.ForeignKeyConstraint(
            ["webhook_id"], ["webhooks.id"], name="webhook_deliveries_webhook_id_fkey", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("webhook_id", "event_id", name="webhook_deliveries_event_key"),
        sa.CheckConstraint("status IN ('pending', 'delivered', 'dead')", name="webhook_deliveries_status_check"),
        sa.CheckConstraint("attempts >= 0", name="webhook_deliveries_attempts_check"),
    )
    op.create_index(
        "webhook_deliveries_due_idx",
        "webhook_deliveries",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "webhook_deliveries_webhook_idx",
        "webhook_deliveries",
        ["webhook_id", sa.text("created_at DESC"), sa.text("id DESC")],
    )
    op.create_index("webhook_deliveries_created_idx", "webhook_deliveries", ["created_at"])
    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.BigInteger(), sa.Identity()),
        sa.Column("delivery_id", UUID(as_uuid=True), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("response_body", sa.Text(), nullable=False),
        _at("at"),
        sa.PrimaryKeyConstraint("id", name="webhook_attempts_pkey"),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhook_deliveries.id"],
            name="webhook_attempts_delivery_id_fkey",
            ondelete="CASCADE",
        ),
    )
    op.create_index("webhook_attempts_delivery_id_idx", "webhook_attempts", ["delivery_id"])


def downgrade() -> None:
    op.drop_table("webhook_attempts")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhooks")
