"""Approval chains: an order keeps the chain its account's rules asked for and every decision on
it; who its current step waits for feeds the approvers' inboxes; a history entry per decision.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: Union[str, Sequence[str], None] = "0005"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

OLD_CHANGES = "('created', 'fraud_hold_released', 'approved', 'rejected', 'cancelled', 'payment_captured', " \
              "'payment_voided', 'fulfilled', 'refunded', 'completed', 'return_requested', 'return_received', " \
              "'return_inspected', 'exchanged')"
CHANGES = "('created', 'fraud_hold_released', 'approved', 'rejected', 'cancelled', 'payment_captured', " \
          "'payment_voided', 'fulfilled', 'refunded', 'completed', 'return_requested', 'return_received', " \
          "'return_inspected', 'exchanged', 'approval_decided')"


def _replace_check(condition: str) -> None:
    op.drop_constraint("order_history_change_check", "order_history", type_="check")
    op.create_check_constraint("order_history_change_check", "order_history", condition)


def upgrade() -> None:
    op.add_column("orders", sa.Column("approval_chain", JSONB))
    op.add_column("orders", sa.Column("approval_waiting", ARRAY(sa.Text), nullable=False, server_default="{}"))
    # Orders awaiting an approval from before chains: one step any approver of the account decides.
    op.execute(
        "UPDATE orders SET approval_chain = jsonb_build_object('current', 0, 'hold_days', 0, 'steps', "
        "jsonb_build_array(jsonb_build_object('name', 'approver', 'rule_id', '', 'approvers', '[]'::jsonb, "
        "'quorum', 1, 'state', 'pending', 'decisions', '[]'::jsonb))), "
        "approval_waiting = CASE WHEN status = 'pending_approval' THEN '{*}'::text[] ELSE '{}'::text[] END, "
        "version = version + 1 WHERE approval_status = 'pending'"
    )
    op.create_index(
        "orders_pending_approval_idx", "orders", ["account_id", sa.text("created_at DESC"), sa.text("id DESC")],
        postgresql_where=sa.text("status = 'pending_approval'"),
    )
    _replace_check(f"change IN {CHANGES}")


def downgrade() -> None:
    op.execute("DELETE FROM order_history WHERE change = 'approval_decided'")
    _replace_check(f"change IN {OLD_CHANGES}")
    op.drop_index("orders_pending_approval_idx", table_name="orders")
    op.drop_column("orders", "approval_waiting")
    op.drop_column("orders", "approval_chain")
