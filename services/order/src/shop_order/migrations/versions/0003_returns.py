"""Returns (RMAs) of orders; their history changes; effects that carry a payload (restock of returned
units, the stock of an exchange's replacement order).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

OLD_CHANGES = "('created', 'fraud_hold_released', 'approved', 'rejected', 'cancelled', 'payment_captured', " \
              "'payment_voided', 'fulfilled', 'refunded', 'completed')"
CHANGES = "('created', 'fraud_hold_released', 'approved', 'rejected', 'cancelled', 'payment_captured', " \
          "'payment_voided', 'fulfilled', 'refunded', 'completed', 'return_requested', 'return_received', " \
          "'return_inspected', 'exchanged')"
OLD_KINDS = "('capture', 'void', 'refund', 'release_stock')"
KINDS = "('capture', 'void', 'refund', 'release_stock', 'restock', 'reserve_stock')"


def _replace_check(table: str, name: str, condition: str) -> None:
    op.drop_constraint(name, table, type_="check")
    op.create_check_constraint(name, table, condition)


def upgrade() -> None:
    _replace_check("order_history", "order_history_change_check", f"change IN {CHANGES}")
    _replace_check("order_effects", "order_effects_kind_check", f"kind IN {KINDS}")
    op.add_column("order_effects", sa.Column("payload", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")))
    op.create_table(
        "returns",
        sa.Column("id", UUID(as_uuid=False), nullable=False),
        sa.Column("order_id", UUID(as_uuid=False), nullable=False),
        sa.Column("request_id", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("method", sa.Text, nullable=False),
        sa.Column("store_id", sa.Text, nullable=False, server_default=""),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("lines", JSONB, nullable=False),
        sa.Column("receiving_location_id", sa.Text, nullable=False, server_default=""),
        sa.Column("inspect_request_id", sa.Text, nullable=False, server_default=""),
        sa.Column("inspect_fingerprint", sa.Text, nullable=False, server_default=""),
        sa.Column("refund_amount", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("shipping_refund", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("refund_id", sa.Text, nullable=False, server_default=""),
        sa.Column("exchange_order_id", sa.Text, nullable=False, server_default=""),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True)),
        sa.Column("inspected_at", sa.DateTime(timezone=True)),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="returns_pkey"),
        sa.UniqueConstraint("order_id", "request_id", name="returns_order_request_key"),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], ondelete="CASCADE", name="returns_order_id_fkey"),
        sa.CheckConstraint(
            "status IN ('requested', 'received', 'inspected', 'refunded', 'closed', 'exchanged')",
            name="returns_status_check",
        ),
        sa.CheckConstraint("method IN ('mail', 'store')", name="returns_method_check"),
        sa.CheckConstraint(
            "reason IN ('changed_mind', 'wrong_size', 'damaged', 'defective', 'wrong_item', 'other')",
            name="returns_reason_check",
        ),
        sa.CheckConstraint("(method = 'store') = (store_id <> '')", name="returns_store_check"),
        sa.CheckConstraint(
            "refund_amount >= 0 AND shipping_refund BETWEEN 0 AND refund_amount", name="returns_amounts_check"
        ),
        sa.CheckConstraint("(status = 'requested') = (received_at IS NULL)", name="returns_received_check"),
    )
    op.create_index("returns_order_idx", "returns", ["order_id", "requested_at"])


def downgrade() -> None:
    op.drop_table("returns")
    op.drop_column("order_effects", "payload")
    op.execute("DELETE FROM order_effects WHERE kind IN ('restock', 'reserve_stock')")
    op.execute(
        "DELETE FROM order_history WHERE change IN ('return_requested', 'return_received', 'return_inspected', "
        "'exchanged')"
    )
    _replace_check("order_effects", "order_effects_kind_check", f"kind IN {OLD_KINDS}")
    _replace_check("order_history", "order_history_change_check", f"change IN {OLD_CHANGES}")
