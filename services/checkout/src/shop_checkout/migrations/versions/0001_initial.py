"""Checkouts (the saga state), outbox and inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-27

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from shopkit.outbox import create_messaging_tables

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

ACTIVE = "('compensating', 'running')"
HELD = "('pending_approval', 'pending_review')"
TERMINAL = "('completed', 'failed')"
STATUSES = "('compensating', 'completed', 'failed', 'pending_approval', 'pending_review', 'running')"


def upgrade() -> None:
    op.create_table(
        "checkouts",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("customer_key", sa.Text, nullable=False),
        sa.Column("idempotency_key", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("cart_id", sa.Text, nullable=False),
        sa.Column("customer_id", sa.Text, nullable=False, server_default=""),
        sa.Column("account_id", sa.Text, nullable=False, server_default=""),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("step", sa.Text, nullable=False, server_default=""),
        sa.Column("order_id", sa.Text),
        sa.Column("total_amount", sa.BigInteger),
        sa.Column("currency", sa.Text),
        sa.Column("state", JSONB, nullable=False),
        sa.Column("lease_owner", sa.Text),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True)),
        sa.Column("hold_expires_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="checkouts_pkey"),
        sa.UniqueConstraint("customer_key", "idempotency_key", name="checkouts_idempotency_key"),
        sa.UniqueConstraint("order_id", name="checkouts_order_id_key"),
        sa.CheckConstraint(f"status IN {STATUSES}", name="checkouts_status_check"),
        sa.CheckConstraint("(lease_owner IS NULL) = (lease_expires_at IS NULL)", name="checkouts_lease_check"),
        sa.CheckConstraint(
            f"status IN {ACTIVE} OR lease_owner IS NULL", name="checkouts_lease_only_when_active_check"
        ),
        sa.CheckConstraint(f"status NOT IN {HELD} OR hold_expires_at IS NOT NULL", name="checkouts_hold_expiry_check"),
        sa.CheckConstraint(f"(status IN {TERMINAL}) = (finished_at IS NOT NULL)", name="checkouts_finished_check"),
    )
    op.create_index(
        "checkouts_one_live_per_cart_idx",
        "checkouts",
        ["cart_id"],
        unique=True,
        postgresql_where=sa.text("status <> 'failed'"),
    )
    op.create_index(
        "checkouts_recoverable_idx", "checkouts", ["updated_at"], postgresql_where=sa.text(f"status IN {ACTIVE}")
    )
    op.create_index(
        "checkouts_hold_expires_at_idx",
        "checkouts",
        ["hold_expires_at"],
        postgresql_where=sa.text(f"status IN {HELD}"),
    )
    op.create_index("checkouts_created_at_idx", "checkouts", ["created_at", "id"])
    op.create_index("checkouts_customer_id_idx", "checkouts", ["customer_id", "created_at", "id"])
    op.create_index("checkouts_status_idx", "checkouts", ["status", "created_at", "id"])
    create_messaging_tables(op)


def downgrade() -> None:
    op.drop_table("checkouts")
    op.drop_table("inbox")
    op.drop_table("outbox")
