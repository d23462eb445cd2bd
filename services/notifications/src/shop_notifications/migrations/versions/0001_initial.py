"""Mails (the record of what was sent and the send queue) and the inbox.

Revision ID: 0001
Revises:
Create Date: 2026-12-06

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

from shopkit.outbox import inbox_table

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

KINDS = "('order_confirmation', 'shipment', 'refund', 'return_received', 'approval_needed')"


def upgrade() -> None:
    op.create_table(
        "mails",
        sa.Column("id", UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("order_id", sa.Text, nullable=False),
        sa.Column("recipient", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("text_body", sa.Text, nullable=False),
        sa.Column("html_body", sa.Text, nullable=False),
        sa.Column("message_id", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="mails_pkey"),
        sa.UniqueConstraint("event_id", name="mails_event_id_key"),
        sa.UniqueConstraint("message_id", name="mails_message_id_key"),
        sa.CheckConstraint(f"kind IN {KINDS}", name="mails_kind_check"),
        sa.CheckConstraint("status IN ('pending', 'sent', 'failed')", name="mails_status_check"),
        sa.CheckConstraint("attempts >= 0", name="mails_attempts_check"),
        sa.CheckConstraint("(status = 'sent') = (sent_at IS NOT NULL)", name="mails_sent_at_check"),
    )
    op.create_index("mails_due_idx", "mails", ["next_attempt_at"], postgresql_where=sa.text("status = 'pending'"))
    op.create_index("mails_order_idx", "mails", ["order_id", sa.text("created_at DESC")])
    op.create_index("mails_created_idx", "mails", [sa.text("created_at DESC"), sa.text("id DESC")])
    inbox_table(sa.MetaData()).create(op.get_bind())


def downgrade() -> None:
    op.drop_table("inbox")
    op.drop_table("mails")
